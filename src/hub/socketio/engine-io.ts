/**
 * Engine.IO v4 sessions on a hub: the polling transport (long-poll GET held in the Durable
 * Object, POST of packets), WebSocket sessions (hibernating), the upgrade of a polling session
 * to WebSocket, and the server's heartbeat. What the packets mean above Engine.IO is the
 * Socket.IO layer's business (socketio-protocol.ts), which keeps its own state beside each
 * session: this is a transport that can be read, and tested, on its own.
 *
 * Polling sessions live in memory: they keep their hub awake while they poll anyway, and a
 * hub that restarts answers "Session ID unknown", upon which the client reconnects. WebSocket
 * sessions survive hibernation through their attachment.
 */
import { exceedsBytes } from "../../protocol/equihome/codec";
import { CLOSE_CODES, ProtocolError } from "../../protocol/errors";
import { MAX_FRAME_BYTES } from "../../protocol/limits";
import {
  decodeEnginePacket,
  decodePayload,
  ENGINE_ERRORS,
  EngineError,
  type EngineErrorName,
  type EnginePacket,
  encodeEnginePacket,
  encodeOpen,
  encodePayload,
} from "../../protocol/socketio/engine";
import { readBodyLimited } from "../../routes/body";

/** The server's ping period; socket.io's default, as the contract asks. */
export const PING_INTERVAL_MS = 25_000;
/** How long after a ping a pong may arrive before the session is closed. */
export const PING_TIMEOUT_MS = 20_000;
/** Largest Engine.IO payload (a polling body or a WebSocket frame), in bytes. */
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES;
/** A long-poll GET is answered with a noop after this long, so no request hangs forever. */
const POLL_HOLD_MS = PING_INTERVAL_MS + 5_000;
/**
 * During an upgrade a poll is released after this long: the client waits for its last poll to
 * end before it sends `5`, so a poll started after the probe's noop must not be held (engine.io
 * repeats noops every 100 ms for the same reason).
 */
const UPGRADE_POLL_HOLD_MS = 100;
/** How long the last packets of a polling session closed between polls wait for its next poll. */
const CLOSED_POLL_KEEP_MS = 10_000;

/** One Engine.IO session: its transport and heartbeat state, nothing of what rides on it. */
export interface EngineSession {
  /** The session id; encodes the hub so polling requests and upgrades find it. */
  readonly sid: string;
  transport: "polling" | "websocket";
  ws: WebSocket | null;
  /** A WebSocket that is probing to take over a polling session. */
  probe: WebSocket | null;
  /** Packets waiting for the next poll (polling transport). */
  outbox: string[];
  poll: { resolve: (body: string) => void; timer: ReturnType<typeof setTimeout> } | null;
  openedAt: number;
  /** Last pong over polling (WebSocket pongs are answered by the runtime and timestamped there). */
  lastPongAt: number;
  /** When this session was last sent a ping; null before its first. Only that ping can time out. */
  pingedAt: number | null;
  closed: boolean;
}

/** The one constructor of a session, new or restored after a wake. */
function engineSession(
  sid: string,
  ws: WebSocket | null,
  openedAt: number,
  pingedAt: number | null,
  now: number,
): EngineSession {
  return {
    sid,
    transport: ws ? "websocket" : "polling",
    ws,
    probe: null,
    outbox: [],
    poll: null,
    openedAt,
    lastPongAt: now,
    pingedAt,
    closed: false,
  };
}

/** What the Engine.IO layer needs from the layer above it and the object holding it. */
export interface EngineHost {
  /** A new session (the layer above keeps its own state beside it): plan its pings. */
  opened(session: EngineSession): void;
  /** Accepts a WebSocket (the session's, or a probe) for hibernation and indexes it. */
  acceptWebSocket(session: EngineSession, ws: WebSocket): void;
  /** The session moved to its WebSocket: what a hibernating session must remember changed. */
  upgraded(session: EngineSession): void;
  /** A session ended. */
  closed(session: EngineSession): void;
  /** One message packet's data, for the layer above. */
  message(session: EngineSession, data: string): void;
}

export class EngineIo {
  #sessions = new Map<string, EngineSession>();
  /** Polling sessions closed while no poll was pending: their final payload, for the next poll. */
  #closedPolls = new Map<string, { payload: string; until: number }>();

  constructor(
    private readonly host: EngineHost,
    private readonly newSid: () => string,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Re-enters a WebSocket session after a wake. It was pinged at the hub's last ping if it was
   * open then (its pong time is the runtime's).
   */
  resume(sid: string, ws: WebSocket, openedAt: number, lastPingAt: number | null): EngineSession {
    const now = Date.now();
    const pingedAt = lastPingAt !== null && openedAt <= lastPingAt ? lastPingAt : null;
    const session = engineSession(sid, ws, openedAt, pingedAt, now);
    this.#sessions.set(sid, session);
    return session;
  }

  /** `/socket.io/?EIO=4&transport=…[&sid=…]`, already checked by the Worker for EIO and transport. */
  async fetch(request: Request): Promise<Response> {
    const response = await this.#route(request);
    // An early refusal (an unknown or closed session) leaves the body unread: read it before
    // answering (up to maxPayload, then cancelled), or the Worker that forwarded it is left
    // reading its own request after it has answered, which workerd reports as an uncaught
    // "Can't read from request stream after response has been sent". Its content is not used.
    if (!request.bodyUsed && request.body) await readBodyLimited(request, MAX_PAYLOAD_BYTES).catch(() => undefined);
    return response;
  }

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const transport = url.searchParams.get("transport");
    const sid = url.searchParams.get("sid");
    const upgrade = request.headers.get("Upgrade")?.toLowerCase() === "websocket";
    if (sid === null) {
      if (request.method !== "GET") return engineError("bad_handshake_method");
      if (transport === "websocket") return upgrade ? this.#openWebSocket() : engineError("bad_request");
      return this.#openPolling();
    }
    const session = this.#sessions.get(sid);
    if (!session || session.closed) {
      const closed = this.#closedPolls.get(sid);
      this.#closedPolls.delete(sid);
      if (closed && closed.until > Date.now() && request.method === "GET" && transport === "polling") {
        return pollingResponse(closed.payload);
      }
      return engineError("session_id_unknown");
    }
    if (transport === "websocket") {
      if (!upgrade || session.transport !== "polling" || session.probe) return engineError("bad_request");
      return this.#acceptProbe(session);
    }
    if (session.transport !== "polling") return engineError("bad_request");
    if (request.method === "GET") return this.#poll(session);
    if (request.method === "POST") return this.#post(session, request);
    return engineError("bad_request");
  }

  /** A text or binary frame on a session's WebSocket (or its probe). */
  onWebSocketMessage(session: EngineSession, ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== "string") return; // binary attachments: refused at the Socket.IO layer
    if (exceedsBytes(message, MAX_PAYLOAD_BYTES)) {
      this.close(session, CLOSE_CODES.message_too_big, "payload too large");
      return;
    }
    let packet: EnginePacket;
    try {
      packet = decodeEnginePacket(message);
    } catch {
      this.close(session, CLOSE_CODES.unsupported_data, "malformed Engine.IO packet");
      return;
    }
    if (ws === session.probe) {
      this.#onProbePacket(session, ws, packet);
      return;
    }
    this.#onPacket(session, packet);
  }

  /** Sends one Engine.IO packet, over whichever transport the session has now. */
  send(session: EngineSession, packet: string): void {
    if (session.closed) return;
    if (session.transport === "websocket" && session.ws) {
      try {
        session.ws.send(packet);
      } catch {
        this.close(session, CLOSE_CODES.normal, "transport closed");
      }
      return;
    }
    session.outbox.push(packet);
    this.#flushPoll(session);
  }

  /** Ends a session: a close packet where the transport can still carry one, then cleanup. */
  close(session: EngineSession, code: number = CLOSE_CODES.normal, reason = "closed"): void {
    if (session.closed) return;
    session.closed = true;
    this.#sessions.delete(session.sid);
    if (session.poll) {
      // What was queued (say, the reason for the close) goes out with the close packet.
      clearTimeout(session.poll.timer);
      session.poll.resolve(encodePayload([...session.outbox.splice(0), encodeEnginePacket("close")]));
      session.poll = null;
    } else if (session.transport === "polling") {
      // No poll pending: the client's next one gets what was queued and the close, not a 400.
      const now = Date.now();
      for (const [sid, closed] of this.#closedPolls) if (closed.until <= now) this.#closedPolls.delete(sid);
      const payload = encodePayload([...session.outbox.splice(0), encodeEnginePacket("close")]);
      this.#closedPolls.set(session.sid, { payload, until: now + CLOSED_POLL_KEEP_MS });
    }
    for (const ws of [session.ws, session.probe]) {
      if (!ws) continue;
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
    }
    this.host.closed(session);
  }

  /** The WebSocket of a session closed (or its probe failed). */
  onWebSocketClose(session: EngineSession, ws: WebSocket): void {
    if (ws === session.probe) {
      session.probe = null;
      return;
    }
    if (ws !== session.ws) return; // a refused probe finishing its close: the session lives on
    this.close(session, CLOSE_CODES.normal, "transport closed");
  }

  /**
   * The heartbeat, from the hub's alarm: closes sessions that did not answer the ping they were
   * sent, then pings everyone. A pong counts on whichever transport it came: a session pinged
   * while polling that answered there, then upgraded, is not late. `pongAt` reads a WebSocket's
   * last pong timestamp from the runtime (which answers pongs without waking the hub).
   */
  heartbeat(now: number, pongAt: (ws: WebSocket) => number | null): void {
    for (const session of [...this.#sessions.values()]) {
      const wsPong = session.transport === "websocket" && session.ws ? (pongAt(session.ws) ?? 0) : 0;
      const lastPong = Math.max(session.lastPongAt, wsPong);
      const pingedAt = session.pingedAt;
      if (pingedAt !== null && lastPong < pingedAt && now - pingedAt >= PING_TIMEOUT_MS) {
        this.close(session, CLOSE_CODES.normal, "ping timeout");
        continue;
      }
      this.send(session, encodeEnginePacket("ping"));
      session.pingedAt = now;
    }
  }

  #newSession(ws: WebSocket | null): EngineSession {
    const now = Date.now();
    const session = engineSession(this.newSid(), ws, now, null, now);
    this.#sessions.set(session.sid, session);
    this.host.opened(session);
    return session;
  }

  #handshake(session: EngineSession, upgrades: string[]): string {
    return encodeOpen({
      sid: session.sid,
      upgrades,
      pingInterval: PING_INTERVAL_MS,
      pingTimeout: PING_TIMEOUT_MS,
      maxPayload: MAX_PAYLOAD_BYTES,
    });
  }

  #openPolling(): Response {
    const session = this.#newSession(null);
    return pollingResponse(this.#handshake(session, ["websocket"]));
  }

  #openWebSocket(): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const session = this.#newSession(server);
    this.host.acceptWebSocket(session, server);
    server.send(this.#handshake(session, []));
    return new Response(null, { status: 101, webSocket: client });
  }

  #acceptProbe(session: EngineSession): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    session.probe = server;
    this.host.acceptWebSocket(session, server);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** During an upgrade: `2probe` → `3probe` (and a noop to release the pending poll); `5` switches. */
  #onProbePacket(session: EngineSession, ws: WebSocket, packet: EnginePacket): void {
    if (packet.type === "ping" && packet.data === "probe") {
      ws.send(encodeEnginePacket("pong", "probe"));
      session.outbox.push(encodeEnginePacket("noop"));
      this.#flushPoll(session);
      return;
    }
    if (packet.type === "upgrade") {
      session.probe = null;
      session.transport = "websocket";
      session.ws = ws;
      if (session.poll) {
        clearTimeout(session.poll.timer);
        session.poll.resolve(encodeEnginePacket("noop"));
        session.poll = null;
      }
      // Nothing buffered for polling is lost or repeated: it goes out on the WebSocket, in order.
      const pending = session.outbox.splice(0);
      for (const text of pending) ws.send(text);
      this.host.upgraded(session);
      return;
    }
    try {
      ws.close(CLOSE_CODES.unsupported_data, "expected probe or upgrade");
    } catch {
      // already closed
    }
    session.probe = null;
  }

  #onPacket(session: EngineSession, packet: EnginePacket): void {
    switch (packet.type) {
      case "message":
        this.host.message(session, packet.data);
        return;
      case "pong":
        session.lastPongAt = Date.now();
        return;
      case "close":
        this.close(session, CLOSE_CODES.normal, "client closed");
        return;
      case "ping":
      case "noop":
      case "binary":
        return; // v4 clients do not ping; binary attachments are refused at the Socket.IO layer
      default:
        this.close(session, CLOSE_CODES.unsupported_data, `unexpected ${packet.type} packet`);
    }
  }

  #poll(session: EngineSession): Promise<Response> | Response {
    if (session.poll) {
      // Two polls at once break the transport's order: end the session, like engine.io does.
      this.close(session, CLOSE_CODES.normal, "overlapping polls");
      return engineError("bad_request");
    }
    if (session.outbox.length > 0) return pollingResponse(encodePayload(session.outbox.splice(0)));
    return new Promise<Response>((resolve) => {
      const timer = setTimeout(
        () => {
          if (session.poll?.timer === timer) {
            session.poll = null;
            resolve(pollingResponse(encodeEnginePacket("noop")));
          }
        },
        session.probe ? UPGRADE_POLL_HOLD_MS : POLL_HOLD_MS,
      );
      session.poll = { resolve: (body) => resolve(pollingResponse(body)), timer };
    });
  }

  #flushPoll(session: EngineSession): void {
    if (!session.poll || session.outbox.length === 0) return;
    clearTimeout(session.poll.timer);
    const { resolve } = session.poll;
    session.poll = null;
    resolve(encodePayload(session.outbox.splice(0)));
  }

  async #post(session: EngineSession, request: Request): Promise<Response> {
    // Read with a bound (the declared length first, then while reading): a body past maxPayload
    // is refused as soon as it passes it, never held whole in memory.
    let body: string;
    try {
      body = await readBodyLimited(request, MAX_PAYLOAD_BYTES);
    } catch (error) {
      if (error instanceof ProtocolError && error.status === 413) {
        this.close(session, CLOSE_CODES.message_too_big, "payload too large");
        return new Response(JSON.stringify({ code: 3, message: "Payload too large" }), {
          status: 413,
          headers: { "Content-Type": "application/json" },
        });
      }
      // Not UTF-8, or the client went away mid-body: a malformed payload.
      this.close(session, CLOSE_CODES.unsupported_data, "malformed payload");
      return engineError("bad_request");
    }
    let packets: EnginePacket[];
    try {
      packets = decodePayload(body);
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      this.close(session, CLOSE_CODES.unsupported_data, "malformed payload");
      return engineError("bad_request");
    }
    for (const packet of packets) {
      if (session.closed) break;
      this.#onPacket(session, packet);
    }
    return new Response("ok", { headers: { "Content-Type": "text/html; charset=UTF-8" } });
  }
}

function pollingResponse(body: string): Response {
  return new Response(body, { headers: { "Content-Type": "text/plain; charset=UTF-8", "Cache-Control": "no-store" } });
}

/** Engine.IO's own error shape: `400 {"code","message"}` (403 for Forbidden). */
export function engineError(name: EngineErrorName): Response {
  const body = ENGINE_ERRORS[name];
  return new Response(JSON.stringify(body), {
    status: name === "forbidden" ? 403 : 400,
    headers: { "Content-Type": "application/json" },
  });
}
