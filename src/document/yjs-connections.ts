/**
 * The document's y-websocket connections (held by its Durable Object, hibernating) and their
 * presence: accept with the sync handshake, check each frame (size, rate, token expiry, the
 * update's effect on the document), apply or refuse it, relay, and close with `CLOSE_CODES`.
 * A connection's state is its attachment, so it survives hibernation; presence does not (clients
 * renew it every 15 s).
 */
import * as v from "valibot";
import * as Y from "yjs";
import { accessEndsAt, hasScope, type Principal } from "../auth/principal";
import { CLOSE_CODES } from "../protocol/errors";
import {
  AWARENESS_QUERY_INTERVAL_MS,
  MAX_AWARENESS_CLIENTS_PER_CONNECTION,
  MAX_AWARENESS_STATE_BYTES,
  MAX_KEY_LENGTH,
  MAX_PRESENCE_BYTES,
  MAX_YJS_CONNECTIONS_PER_USER,
  MAX_YJS_FRAME_BYTES,
} from "../protocol/limits";
import {
  type AwarenessEntry,
  decodeAwarenessUpdate,
  decodeYjsMessage,
  encodeAwareness,
  encodeAwarenessUpdate,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  YjsFrameError,
} from "../protocol/yjs/frames";
import { PrincipalSchema } from "../socket-host/attachment";
import { MessageRateLimiter } from "../socket-host/rate-limiter";
import { Presence } from "./presence";
import { checkUpdate } from "./update-check";

const YjsAttachmentSchema = v.object({
  v: v.literal(1),
  id: v.string(),
  principal: PrincipalSchema,
  /** Awareness clients this connection owns, with their last clocks: [clientID, clock][]. */
  awareness: v.array(v.tuple([v.number(), v.number()])),
});

export interface YjsConnection {
  id: string;
  ws: WebSocket;
  principal: Principal;
  canEdit: boolean;
  /** Owned awareness clients as last written to the attachment. */
  awareness: Map<number, number>;
  rate: MessageRateLimiter;
  /** When this connection's last query-awareness was answered. */
  queriedAt: number;
}

export interface YjsConnectionsHost {
  /** The document the connections sync with. */
  doc: Y.Doc;
  /** Applies a checked update from this connection (stored and relayed by the document). */
  applyUpdate(update: Uint8Array, connection: YjsConnection): void;
  /** A connection opened or closed: the editors list changed. */
  editorsChanged(): Promise<void>;
  /** Something is due at `at` (a token expiry). */
  alarmBy(at: number): void;
}

export class YjsConnections {
  #connections = new Map<WebSocket, YjsConnection>();
  #presence = new Presence({
    clientsPerOwner: MAX_AWARENESS_CLIENTS_PER_CONNECTION,
    stateBytes: MAX_AWARENESS_STATE_BYTES,
    totalBytes: MAX_PRESENCE_BYTES,
  });

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly host: YjsConnectionsHost,
  ) {
    for (const ws of ctx.getWebSockets()) {
      const attachment = v.safeParse(YjsAttachmentSchema, ws.deserializeAttachment());
      if (!attachment.success) {
        ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
        continue;
      }
      const { id, principal, awareness } = attachment.output;
      this.#connections.set(ws, newConnection(id, ws, principal, new Map(awareness)));
    }
  }

  get size(): number {
    return this.#connections.size;
  }

  *principals(): Iterable<Principal> {
    for (const connection of this.#connections.values()) yield connection.principal;
  }

  /** The earliest token expiry of the open connections (infinity when none). */
  earliestExpiry(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const { principal } of this.#connections.values()) at = Math.min(at, accessEndsAt(principal));
    return at;
  }

  /** Accepts an upgrade the Worker verified, and starts the sync. */
  async accept(principal: Principal): Promise<Response> {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    let open = 0;
    for (const connection of this.#connections.values()) if (connection.principal.sub === principal.sub) open += 1;
    if (open >= MAX_YJS_CONNECTIONS_PER_USER) {
      // Accepted, then closed with a reason: a refused upgrade tells a browser client nothing.
      server.accept();
      server.close(
        CLOSE_CODES.too_many_connections,
        `more than ${MAX_YJS_CONNECTIONS_PER_USER} connections of this user`,
      );
      return new Response(null, { status: 101, webSocket: client });
    }
    this.ctx.acceptWebSocket(server);
    const connection = newConnection(crypto.randomUUID(), server, principal, new Map());
    this.#connections.set(server, connection);
    this.#writeAttachment(connection);
    server.send(encodeSyncStep1(Y.encodeStateVector(this.host.doc)));
    const states = this.#presence.all();
    if (states.length > 0) server.send(encodeAwareness(encodeAwarenessUpdate(states)));
    this.host.alarmBy(accessEndsAt(principal));
    await this.host.editorsChanged();
    return new Response(null, { status: 101, webSocket: client });
  }

  /** One frame: the inbound checks in order, then the message. */
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    const connection = this.#connections.get(ws);
    if (!connection) {
      ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
      return;
    }
    if (accessEndsAt(connection.principal) <= Date.now()) {
      this.#close(connection, CLOSE_CODES.authentication_failed, "token expired");
      return;
    }
    if (typeof message === "string") {
      this.#close(connection, CLOSE_CODES.unsupported_data, "y-websocket frames are binary");
      return;
    }
    if (message.byteLength > MAX_YJS_FRAME_BYTES) {
      this.#close(connection, CLOSE_CODES.message_too_big, "frame too large");
      return;
    }
    const verdict = connection.rate.check(Date.now());
    if (verdict === "close") {
      this.#close(connection, CLOSE_CODES.policy_violation, "message rate limit exceeded");
      return;
    }
    // y-websocket has no error message: a dropped frame is resent by the next sync.
    if (verdict !== "accept") return;
    try {
      this.#handle(connection, new Uint8Array(message));
    } catch (error) {
      if (error instanceof YjsFrameError) {
        this.#close(connection, CLOSE_CODES.unsupported_data, "malformed message");
        return;
      }
      console.error("y-websocket message failed", error);
      this.#close(connection, CLOSE_CODES.internal_error, "server error; reconnect");
    }
  }

  /** Closes the connections whose token has expired by `now`. */
  expire(now: number): void {
    for (const connection of [...this.#connections.values()]) {
      if (accessEndsAt(connection.principal) <= now) {
        this.#close(connection, CLOSE_CODES.authentication_failed, "token expired");
      }
    }
  }

  /** A closed socket: its presence goes, and the editors hear of it. */
  async forget(ws: WebSocket): Promise<void> {
    const connection = this.#connections.get(ws);
    if (!connection) return;
    this.#connections.delete(ws);
    const removals: AwarenessEntry[] = this.#presence.removeOwner(connection.id, connection.awareness);
    if (removals.length > 0) this.#broadcast(encodeAwareness(encodeAwarenessUpdate(removals)), null);
    try {
      ws.close(CLOSE_CODES.normal, "closed");
    } catch {
      // already closed
    }
    await this.host.editorsChanged();
  }

  /** Relays a stored update to every connection but the one it came from. */
  relay(update: Uint8Array, from: YjsConnection | null): void {
    this.#broadcast(encodeUpdate(update), from);
  }

  #handle(connection: YjsConnection, frame: Uint8Array): void {
    const message = decodeYjsMessage(frame);
    switch (message.type) {
      case "sync-step1": {
        let diff: Uint8Array;
        try {
          diff = Y.encodeStateAsUpdate(this.host.doc, message.stateVector);
        } catch (cause) {
          throw new YjsFrameError("malformed state vector", { cause });
        }
        connection.ws.send(encodeSyncStep2(diff));
        return;
      }
      case "sync-step2":
      case "update": {
        this.#update(connection, message.update, message.type === "update");
        return;
      }
      case "awareness": {
        const entries = decodeAwarenessUpdate(message.update, MAX_AWARENESS_STATE_BYTES);
        const accepted = this.#presence.apply(connection.id, entries);
        // To everyone, the sender included, as y-websocket servers do: a lone client hears its
        // own renewals, which keeps its 30 s silence watchdog from reconnecting.
        if (accepted.length > 0) this.#broadcast(encodeAwareness(encodeAwarenessUpdate(accepted)), null);
        this.#rememberAwareness(connection);
        return;
      }
      case "query-awareness": {
        // Answered at most once per interval: tiny queries must not amplify into floods of states.
        const now = Date.now();
        if (now - connection.queriedAt < AWARENESS_QUERY_INTERVAL_MS) return;
        connection.queriedAt = now;
        connection.ws.send(encodeAwareness(encodeAwarenessUpdate(this.#presence.all())));
        return;
      }
      default:
        return; // auth messages from clients, and types of newer versions: nothing to do
    }
  }

  /** An update (or a sync answer): checked against the document before it touches it. */
  #update(connection: YjsConnection, update: Uint8Array, isUpdateMessage: boolean): void {
    const decoded = decodeUpdate(update);
    if (!connection.canEdit) {
      // Read-only: its changes are refused. Its sync answer always carries its whole delete
      // set, so only an update message that changes something is told so.
      if (isUpdateMessage && (decoded.structs.length > 0 || decoded.ds.clients.size > 0)) {
        connection.ws.send(encodePermissionDenied("read-only: this token has no edit scope"));
      }
      return;
    }
    const key = forbiddenKey(decoded);
    if (key !== null) {
      connection.ws.send(encodePermissionDenied(`refused: the key "${key.slice(0, 64)}" is not allowed`));
      return;
    }
    const refusal = checkUpdate(this.host.doc, decoded);
    if (refusal) {
      this.#refuse(connection, refusal.issue, refusal.message);
      return;
    }
    this.host.applyUpdate(update, connection);
    const store = this.host.doc.store;
    if (store.pendingStructs !== null || store.pendingDs !== null) {
      // Not caught above (it should have been): keep nothing that waits for what never came.
      store.pendingStructs = null;
      store.pendingDs = null;
      this.#refuse(connection, "unresolved_dependencies", "the update depends on changes never received");
    }
  }

  /** A refused update: the reason as y-websocket's permission-denied, then the close. */
  #refuse(connection: YjsConnection, issue: string, message: string): void {
    connection.ws.send(encodePermissionDenied(`refused: ${issue}: ${message}`));
    this.#close(connection, CLOSE_CODES.update_refused, `update refused: ${issue}`);
  }

  #close(connection: YjsConnection, code: number, reason: string): void {
    try {
      connection.ws.close(code, reason);
    } catch {
      // already closed
    }
    // `forget` only logs its failures (editors_updated is best effort).
    void this.forget(connection.ws);
  }

  /** Keeps the attachment's owned awareness clients in step, written only when the set changes. */
  #rememberAwareness(connection: YjsConnection): void {
    const owned = this.#presence.owned(connection.id);
    const same =
      owned.size === connection.awareness.size && [...owned.keys()].every((id) => connection.awareness.has(id));
    connection.awareness = owned;
    if (!same) this.#writeAttachment(connection);
  }

  #writeAttachment(connection: YjsConnection): void {
    connection.ws.serializeAttachment({
      v: 1,
      id: connection.id,
      principal: connection.principal,
      awareness: [...connection.awareness],
    } satisfies v.InferOutput<typeof YjsAttachmentSchema>);
  }

  #broadcast(frame: Uint8Array, except: YjsConnection | null): void {
    for (const connection of this.#connections.values()) {
      if (connection === except) continue;
      try {
        connection.ws.send(frame);
      } catch {
        // closing; its close handler cleans up
      }
    }
  }
}

function newConnection(id: string, ws: WebSocket, principal: Principal, awareness: Map<number, number>): YjsConnection {
  const canEdit = hasScope(principal, "edit");
  return { id, ws, principal, canEdit, awareness, rate: new MessageRateLimiter(Date.now()), queriedAt: 0 };
}

/** Decodes an update to check it before it touches the document. */
function decodeUpdate(update: Uint8Array): ReturnType<typeof Y.decodeUpdate> {
  try {
    return Y.decodeUpdate(update);
  } catch (cause) {
    throw new YjsFrameError("malformed update", { cause });
  }
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * A map key a Yjs client may not write: one that would vanish or pollute in the JSON form of
 * the document, one with a "." (paths join keys with dots), or an absurdly long one. Keys outside
 * the JSON path grammar are otherwise allowed.
 */
function forbiddenKey({ structs }: ReturnType<typeof Y.decodeUpdate>): string | null {
  for (const struct of structs) {
    const key = struct instanceof Y.Item ? struct.parentSub : null;
    // A "." would make `a.b` mean two different places in resource_updated paths.
    if (key !== null && (FORBIDDEN_KEYS.has(key) || key.includes(".") || key.length > MAX_KEY_LENGTH)) return key;
  }
  return null;
}
