/**
 * The document's y-websocket connections and their presence. The socket lifecycle is the
 * socket host's (socket-host/: hibernation, the attachment, restore, the alarm that ends expired
 * tokens, the inbound pipeline of size, rate, token expiry, refusal and close); this part is the
 * y-websocket wire on it: the sync handshake, what each frame means, an update checked against
 * the document before it touches it, and the close codes y-websocket clients see. A connection's
 * state is its attachment, so it survives hibernation; presence does not (clients renew it every
 * 15 s).
 */
import * as v from "valibot";
import * as Y from "yjs";
import { accessEndsAt, hasScope, type Principal } from "../auth/principal";
import { CLOSE_CODES, type ProtocolError } from "../protocol/errors";
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
  type YjsMessage,
} from "../protocol/yjs/frames";
import { AttachmentIdSchema, AttachmentKind, PrincipalSchema } from "../socket-host/attachment";
import { type InboundSocket, type InboundWire, Malformed } from "../socket-host/inbound";
import { MessageRateLimiter } from "../socket-host/rate-limiter";
import { Presence } from "./presence";
import { checkUpdate } from "./update-check";

/** A connection through hibernation: its id, its user, the awareness clients it owns. */
const YjsConnectionSchema = v.object({
  id: AttachmentIdSchema,
  principal: PrincipalSchema,
  /** Awareness clients this connection owns, with their last clocks: [clientID, clock][]. */
  awareness: v.array(v.tuple([v.number(), v.number()])),
});
type YjsConnectionData = v.InferOutput<typeof YjsConnectionSchema>;
export const YJS_ATTACHMENT = new AttachmentKind("document.yjs", 1, YjsConnectionSchema);

export interface YjsConnection extends InboundSocket {
  id: string;
  ws: WebSocket;
  principal: Principal;
  canEdit: boolean;
  /** Owned awareness clients as last written to the attachment. */
  awareness: Map<number, number>;
  /** When this connection's last query-awareness was answered. */
  queriedAt: number;
}

/** What the connections need of the document and of its socket host. */
export interface YjsConnectionsHost {
  /** The document the connections sync with. */
  doc: Y.Doc;
  /** Applies a checked update from this connection (stored and relayed by the document). */
  applyUpdate(update: Uint8Array, connection: YjsConnection): void;
  /** A connection opened or closed: the editors list changed. */
  editorsChanged(): Promise<void>;
  /** Holds a new connection's WebSocket, accepted for hibernation. */
  accept(ws: WebSocket, connection: YjsConnection): void;
  /** Lets go of a WebSocket the connections closed. */
  untrack(ws: WebSocket): void;
  /** A token expiry, for the alarm. */
  expiry(at: number): void;
  /** Whether the connection's token has run out, ending it (once) if so. */
  expireIfDue(connection: YjsConnection, now: number): boolean;
  /** Work the current socket event waits for before it ends (the socket host's `later`). */
  later(task: Promise<void>, what: string): void;
}

export class YjsConnections implements InboundWire<YjsConnection, string | ArrayBuffer, YjsMessage> {
  readonly maxFrameBytes = MAX_YJS_FRAME_BYTES;
  #connections = new Set<YjsConnection>();
  #presence = new Presence({
    clientsPerOwner: MAX_AWARENESS_CLIENTS_PER_CONNECTION,
    stateBytes: MAX_AWARENESS_STATE_BYTES,
    totalBytes: MAX_PRESENCE_BYTES,
  });

  constructor(private readonly host: YjsConnectionsHost) {}

  get size(): number {
    return this.#connections.size;
  }

  /** The open connections. */
  all(): Iterable<YjsConnection> {
    return this.#connections;
  }

  *principals(): Iterable<Principal> {
    for (const connection of this.#connections) yield connection.principal;
  }

  /** A connection back from hibernation, from its attachment. */
  revive(ws: WebSocket, { id, principal, awareness }: YjsConnectionData): YjsConnection {
    const connection = newConnection(id, ws, principal, new Map(awareness));
    this.#connections.add(connection);
    return connection;
  }

  /** Accepts an upgrade the Worker verified, and starts the sync. */
  async accept(principal: Principal): Promise<Response> {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    let open = 0;
    for (const connection of this.#connections) if (connection.principal.sub === principal.sub) open += 1;
    if (open >= MAX_YJS_CONNECTIONS_PER_USER) {
      // Accepted, then closed with a reason: a refused upgrade tells a browser client nothing.
      server.accept();
      server.close(
        CLOSE_CODES.too_many_connections,
        `more than ${MAX_YJS_CONNECTIONS_PER_USER} connections of this user`,
      );
      return new Response(null, { status: 101, webSocket: client });
    }
    const connection = newConnection(crypto.randomUUID(), server, principal, new Map());
    this.host.accept(server, connection);
    this.#connections.add(connection);
    this.#writeAttachment(connection);
    server.send(encodeSyncStep1(Y.encodeStateVector(this.host.doc)));
    const states = this.#presence.all();
    if (states.length > 0) server.send(encodeAwareness(encodeAwarenessUpdate(states)));
    this.host.expiry(accessEndsAt(principal));
    await this.host.editorsChanged();
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The runtime reported the connection's WebSocket closed (or failed). */
  closed(connection: YjsConnection): void {
    this.#drop(connection);
  }

  // The inbound pipeline's wire (socket-host/inbound.ts): y-websocket has no error message, so
  // everything a client must know is told by permission-denied or by the close.

  expiresAt(connection: YjsConnection): number {
    return accessEndsAt(connection.principal);
  }

  decode(_connection: YjsConnection, frame: string | ArrayBuffer): YjsMessage | Malformed {
    if (typeof frame === "string") {
      return new Malformed(null, { code: CLOSE_CODES.unsupported_data, reason: "y-websocket frames are binary" });
    }
    try {
      return decodeYjsMessage(new Uint8Array(frame));
    } catch (error) {
      if (error instanceof YjsFrameError) {
        return new Malformed(null, { code: CLOSE_CODES.unsupported_data, reason: "malformed message" });
      }
      console.error("decoding a y-websocket message failed", error);
      return new Malformed(null, { code: CLOSE_CODES.internal_error, reason: "server error; reconnect" });
    }
  }

  /** y-websocket cannot renew a token on its connection: every frame needs one. */
  needsToken(): boolean {
    return true;
  }

  async run(connection: YjsConnection, message: YjsMessage): Promise<void> {
    // A frame queued behind one that closed the connection (a refused update) is not applied.
    if (!this.#connections.has(connection)) return;
    try {
      this.#handle(connection, message);
    } catch (error) {
      if (!(error instanceof YjsFrameError)) throw error;
      this.close(connection, CLOSE_CODES.unsupported_data, "malformed message");
    }
  }

  /**
   * A refusal from the pipeline. A rate-limited frame is dropped silently (the next sync resends
   * what it carried); a frame too large is closed by the pipeline right after; a failure of ours
   * (`server_error`) closes the connection for the client to reconnect to a clean state.
   */
  refuse(connection: YjsConnection, error: ProtocolError): void {
    if (error.code === "server_error") this.close(connection, CLOSE_CODES.internal_error, "server error; reconnect");
  }

  expire(connection: YjsConnection): void {
    this.close(connection, CLOSE_CODES.authentication_failed, "token expired");
  }

  close(connection: YjsConnection, code: number, reason: string): void {
    try {
      connection.ws.close(code, reason);
    } catch {
      // already closed
    }
    this.host.untrack(connection.ws);
    this.#drop(connection);
  }

  /** A connection ends: its presence goes, and the editors hear of it. */
  #drop(connection: YjsConnection): void {
    if (!this.#connections.delete(connection)) return;
    const removals: AwarenessEntry[] = this.#presence.removeOwner(connection.id, connection.awareness);
    if (removals.length > 0) this.#broadcast(encodeAwareness(encodeAwarenessUpdate(removals)), null);
    this.host.later(this.host.editorsChanged(), "editors_updated after a y-websocket connection closed");
  }

  /** Relays a stored update to every connection but the one it came from. */
  relay(update: Uint8Array, from: YjsConnection | null): void {
    this.#broadcast(encodeUpdate(update), from);
  }

  #handle(connection: YjsConnection, message: YjsMessage): void {
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
    this.close(connection, CLOSE_CODES.update_refused, `update refused: ${issue}`);
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
    const { id, principal, awareness } = connection;
    YJS_ATTACHMENT.write(connection.ws, { id, principal, awareness: [...awareness] });
  }

  /**
   * Sends to every connection but `except`. One whose token ran out is ended instead: the alarm
   * closes idle ones up to a spacing late under load (socket-host/alarm-planner.ts), and nothing
   * reaches a connection past its token's end.
   */
  #broadcast(frame: Uint8Array, except: YjsConnection | null): void {
    const now = Date.now();
    for (const connection of this.#connections) {
      if (connection === except || this.host.expireIfDue(connection, now)) continue;
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
  const rate = new MessageRateLimiter(Date.now());
  return { id, ws, principal, canEdit, awareness, rate, inbox: Promise.resolve(), queriedAt: 0 };
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
