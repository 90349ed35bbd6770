import type { DocumentDurableObject } from "./document/document-durable-object";
import type { JsonHubDurableObject } from "./hub/json/json-hub-durable-object";
import type { SocketIoHubDurableObject } from "./hub/socketio/socketio-hub-durable-object";
import type { TopicDurableObject } from "./topic/topic-durable-object";

/** The Worker's bindings, as `wrangler.jsonc` and `.dev.vars` / secrets declare them. */
export interface Env {
  /** JSON hubs (`hub:<region>:<shard>`). */
  HUB: DurableObjectNamespace<JsonHubDurableObject>;
  /** Socket.IO hubs (`sio:<region>:<shard>`). */
  SIO_HUB: DurableObjectNamespace<SocketIoHubDurableObject>;
  TOPIC: DurableObjectNamespace<TopicDurableObject>;
  DOCUMENT: DurableObjectNamespace<DocumentDurableObject>;
  /** HS256 key for user and publisher tokens (secret; `.dev.vars` locally). */
  JWT_SECRET?: string;
  /** When set, RS256 / ES256 tokens are also accepted, keys from this JWK set. */
  JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  /** Comma-separated exact origins allowed to open WebSockets. */
  ALLOWED_ORIGINS?: string;
  /** Hub shards per region (a positive integer as a string). */
  HUB_SHARDS?: string;
  /** "on": Socket.IO connection state recovery for every client (default "off", as Socket.IO's). */
  SOCKETIO_RECOVERY?: string;
  /**
   * "on": `POST /v1/dev/token` mints short-lived tokens with JWT_SECRET for the dashboard. Only
   * `npm run dev` sets it (`--var DEV_TOKENS:on`); never in wrangler.jsonc, so never deployed.
   */
  DEV_TOKENS?: string;
}
