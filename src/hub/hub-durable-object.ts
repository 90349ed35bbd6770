/**
 * The Hub Durable Object: holds many client sockets with the WebSocket Hibernation API, speaks
 * their protocol, and keeps one registration per topic at the topic Durable Objects. Lifecycle
 * and dispatch only: the protocols (equihome-protocol.ts; engine-io.ts and socketio-protocol.ts)
 * and the subscription index (subscriptions.ts) do the work.
 *
 * A hub serves one protocol family, by name: `hub:<region>:<shard>` the Equihome JSON protocol,
 * `sio:<region>:<shard>` Socket.IO. Hibernation: each socket's principal is in its attachment,
 * its subscriptions in SQLite; the constructor rebuilds the index from both when the hub wakes.
 * The one timer is the durable alarm: the earliest token expiry, and on Socket.IO hubs the
 * Engine.IO ping every 25 s (pongs are answered by the runtime, which keeps their time, so a
 * pong does not wake the hub).
 */
import { DurableObject } from "cloudflare:workers";
import * as v from "valibot";
import { accessEndsAt, type Principal } from "../auth/principal";
import { authConfigFromEnv } from "../auth/verify-token";
import type { Env } from "../env";
import { HUB_NAME_HEADER, PRINCIPAL_HEADER } from "../internal-headers";
import { CLOSE_CODES } from "../protocol/errors";
import { HUB_RENEW_MS, MAX_JSON_SOCKETS_PER_USER } from "../protocol/limits";
import type { Delivery, DeliveryReply } from "../protocol/topics";
import { refusedSocket } from "../routes/upgrade";
import { safeJson } from "../storage/sql";
import {
  ATTACHMENT_VERSION,
  type AttachedSubscription,
  MAX_INLINE_ATTACHMENT_CHARS,
  PrincipalSchema,
  readAttachment,
  type SocketAttachment,
  writeAttachment,
} from "./attachment";
import { EngineIo, type EngineSession, PING_INTERVAL_MS } from "./engine-io";
import { connectionLimitFrame, EquihomeProtocol, type JsonSocket } from "./equihome-protocol";
import type { HubSocket } from "./hub-socket";
import { HubStore } from "./hub-store";
import { MessageRateLimiter } from "./rate-limiter";
import { recoverySetting } from "./recovery-log";
import { isSocketIoHub, newSessionId, parseShardCount, sioHubOfSessionId } from "./shard";
import { type RecoveryRecord, SocketIoProtocol } from "./socketio-protocol";
import { SubscriptionIndex } from "./subscriptions";

/** How long a closed Socket.IO session can be resumed (socket.io's default). */
export const RECOVERY_WINDOW_MS = 2 * 60 * 1000;

export class HubDurableObject extends DurableObject<Env> {
  #store: HubStore;
  #name: string | null;
  #sockets = new Map<WebSocket, HubSocket>();
  #jsonById = new Map<string, JsonSocket>();
  /** Open JSON sockets per user (`sub`), for MAX_JSON_SOCKETS_PER_USER. */
  #jsonPerUser = new Map<string, number>();
  readonly index: SubscriptionIndex<HubSocket>;
  #json: EquihomeProtocol;
  #engine: EngineIo;
  #sio: SocketIoProtocol;
  /** When the alarm is set for, as far as this instance knows. */
  #alarmAt: number | null = null;
  /** When this hub next renews its registrations at the topics it holds. */
  #renewAt: number;
  #restoring = false;
  /** Sockets whose subscriptions are in SQLite (too many for their attachment). */
  #spilled = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new HubStore(ctx.storage.sql);
    this.#name = this.#store.name();
    // Kept in storage: a hub woken often by deliveries must still renew on time.
    this.#renewAt = (this.#store.lastRenewAt() ?? Date.now()) + HUB_RENEW_MS;
    this.index = new SubscriptionIndex<HubSocket>({
      attach: (topic, sinceSeq) => this.env.TOPIC.getByName(topic).attach(topic, this.#hubName(), sinceSeq),
      detach: (topic) => this.env.TOPIC.getByName(topic).detach(topic, this.#hubName()),
      renew: (topic, lastSeq) => this.env.TOPIC.getByName(topic).renew(topic, this.#hubName(), lastSeq),
      emit: (socket, subscription, event) =>
        socket.protocol === "json"
          ? this.#json.emit(socket, subscription, event)
          : this.#sio.emitTopicEvent(socket, subscription, event),
      resync: (socket, subscription, seq, latest) =>
        socket.protocol === "json"
          ? this.#json.resync(socket, subscription, seq, latest)
          : this.#sio.resync(socket, subscription, seq, latest),
      holding: () => this.#holding(),
      persist: (socket) => {
        if (socket.protocol === "json") this.#writeJsonAttachment(socket);
        else if (socket.ws) this.#writeSioAttachment(socket, socket.ws);
      },
    });
    this.#json = new EquihomeProtocol({
      index: this.index,
      authConfig: () => authConfigFromEnv(this.env),
      hubName: () => this.#hubName(),
      document: (name) => this.env.DOCUMENT.getByName(name),
      principalChanged: (socket) => {
        this.#writeJsonAttachment(socket);
        this.#alarmBy(accessEndsAt(socket.principal));
      },
      close: (socket, code, reason) => this.#closeJson(socket, code, reason),
      isOpen: (socket) => this.#jsonById.get(socket.id) === socket,
    });
    this.#engine = new EngineIo(
      {
        acceptWebSocket: (session, ws) => {
          this.ctx.acceptWebSocket(ws);
          this.#sockets.set(ws, session);
          this.#writeSioAttachment(session, ws);
        },
        saveSession: (session) => {
          if (session.ws) this.#writeSioAttachment(session, session.ws);
        },
        forgetSession: (session) => this.#forgetSession(session),
        onMessage: (session, data) => this.#sio.onMessage(session, data),
        sessionOpened: () => this.#alarmBy(this.#nextPingAt()),
      },
      () => newSessionId(this.#hubName()),
    );
    this.#sio = new SocketIoProtocol({
      engine: this.#engine,
      index: this.index,
      authConfig: () => authConfigFromEnv(this.env),
      saveSession: (session) => {
        if (session.ws) this.#writeSioAttachment(session, session.ws);
      },
      principalChanged: (session) => {
        if (session.principal) this.#alarmBy(accessEndsAt(session.principal));
      },
      recoveryByDefault: () => recoverySetting(this.env.SOCKETIO_RECOVERY),
      newPid: () => newSessionId(this.#hubName()),
      takeRecovery: (pid) => this.#takeRecoveryFrom(pid),
    });
    if (this.#name !== null && isSocketIoHub(this.#name)) this.#answerPongs();
    this.#restoring = true;
    this.#restore();
    this.#restoring = false;
    // Every socket folded its expiry into the stored alarm when it arrived, so after a wake the
    // stored alarm is due no later than this: knowing it saves a storage write per wake.
    const due = this.#earliestAlarm();
    this.#alarmAt = due === Number.POSITIVE_INFINITY ? null : due;
  }

  /** Rebuilds sockets and subscriptions after a wake from hibernation or an eviction. */
  #restore(): void {
    const now = Date.now();
    const lastPingAt = this.#store.lastPingAt();
    const byId = new Map<string, HubSocket>();
    const subs = new Map<HubSocket, SocketAttachment["subs"]>();
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = readAttachment(ws);
      if (!attachment) {
        // Written by an incompatible version: the client must reconnect to get a clean state.
        ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
        continue;
      }
      if (attachment.protocol === "json") {
        const socket = this.#trackJson(ws, attachment.id, attachment.principal, now);
        byId.set(attachment.id, socket);
        subs.set(socket, attachment.subs);
        continue;
      }
      const session: EngineSession = {
        protocol: "sio",
        id: attachment.id,
        sid: attachment.id,
        subscriptions: new Map(),
        transport: "websocket",
        ws,
        probe: null,
        outbox: [],
        poll: null,
        openedAt: attachment.openedAt,
        lastPongAt: now,
        // Pinged at the hub's last ping if it was open then; its pong time is the runtime's.
        pingedAt: lastPingAt !== null && attachment.openedAt <= lastPingAt ? lastPingAt : null,
        closed: false,
        sioId: attachment.sioId,
        principal: attachment.principal,
        pid: attachment.pid,
        // What was sent before the hibernation is not known: this session cannot be resumed.
        recovery: null,
        rate: new MessageRateLimiter(now),
        inbox: Promise.resolve(),
      };
      this.#sockets.set(ws, session);
      this.#engine.restore(session);
      byId.set(session.id, session);
      subs.set(session, attachment.subs);
    }
    this.#store.retainSockets(new Set(byId.keys()));
    // Subscriptions in the attachment, or in SQLite for sockets with too many (or written by a
    // version that kept them all there).
    let stored: ReturnType<HubStore["subscriptions"]> | null = null;
    for (const [socket, inline] of subs) {
      if (Array.isArray(inline)) {
        for (const [topic, zones, explicit, editing] of inline) {
          this.index.restore(socket, { socketId: socket.id, topic, zones, explicit, editing });
        }
        continue;
      }
      stored ??= this.#store.subscriptions();
      this.#spilled.add(socket.id);
      for (const row of stored) if (row.socketId === socket.id) this.index.restore(socket, row);
    }
  }

  #trackJson(ws: WebSocket, id: string, principal: Principal, now: number): JsonSocket {
    const socket: JsonSocket = {
      protocol: "json",
      id,
      ws,
      principal,
      subscriptions: new Map(),
      rate: new MessageRateLimiter(now),
      inbox: Promise.resolve(),
    };
    this.#sockets.set(ws, socket);
    this.#jsonById.set(id, socket);
    this.#jsonPerUser.set(principal.sub, (this.#jsonPerUser.get(principal.sub) ?? 0) + 1);
    return socket;
  }

  /**
   * The hub holds its first topic: renewals start a period from the last one (or from now). The
   * wake path restores subscriptions while the stored alarm already covers them: no write then.
   */
  #holding(): void {
    if (this.#store.lastRenewAt() === null) {
      this.#store.setLastRenewAt(Date.now());
      this.#renewAt = Date.now() + HUB_RENEW_MS;
    }
    if (!this.#restoring) this.#alarmBy(this.#renewAt);
  }

  #hubName(): string {
    // Set by the first request, before any subscription can exist.
    if (this.#name === null) throw new Error("hub used before its first connection");
    return this.#name;
  }

  #rememberName(name: string): void {
    if (this.#name === name) return;
    this.#name = name;
    this.#store.setName(name);
    if (isSocketIoHub(name)) this.#answerPongs();
  }

  /**
   * Engine.IO pongs (`3`) are answered by the runtime without waking the hub (with a noop, which
   * clients ignore); the runtime keeps each socket's last pong time for the heartbeat.
   */
  #answerPongs(): void {
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("3", "6"));
  }

  /** An upgrade the Worker has authenticated, or any Engine.IO request routed here. */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(HUB_NAME_HEADER);
    if (!name) return new Response("hubs accept only requests forwarded by the Worker", { status: 400 });
    this.#rememberName(name);
    if (isSocketIoHub(name)) return this.#engine.fetch(request);
    const principal = v.safeParse(PrincipalSchema, safeJson(request.headers.get(PRINCIPAL_HEADER)));
    if (!principal.success || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("hubs accept only upgrades forwarded by the Worker", { status: 400 });
    }
    // A user's JSON sockets all land on this hub (per region): count them here.
    if ((this.#jsonPerUser.get(principal.output.sub) ?? 0) >= MAX_JSON_SOCKETS_PER_USER) {
      return refusedSocket(CLOSE_CODES.policy_violation, "too many connections", connectionLimitFrame());
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const socket = this.#trackJson(server, crypto.randomUUID(), principal.output, Date.now());
    this.#writeJsonAttachment(socket);
    this.#alarmBy(accessEndsAt(socket.principal));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Called by topic Durable Objects, in seq order per topic. */
  async deliver(topic: string, delivery: Delivery): Promise<DeliveryReply> {
    return this.index.deliver(topic, delivery);
  }

  /**
   * Sends one frame to some of this hub's JSON sockets (editors_updated from a document).
   * Returns the ids it no longer has, so the sender can forget them.
   */
  async sendToSockets(socketIds: string[], frame: string): Promise<{ missing: string[] }> {
    const missing: string[] = [];
    for (const id of socketIds) {
      const socket = this.#jsonById.get(id);
      try {
        if (!socket) throw new Error("gone");
        socket.ws.send(frame);
      } catch {
        missing.push(id);
      }
    }
    return { missing };
  }

  /** Hands over (once) what a closed Socket.IO session left for connection state recovery. */
  async takeRecovery(pid: string): Promise<RecoveryRecord | null> {
    return this.#store.takeRecovery(pid, Date.now());
  }

  /**
   * Test and operations aid (`GET /v1/admin/stats`). `held`: the topics this hub holds, each with
   * its number of subscribed sockets or sessions, at most `maxHeld` of them (the most subscribed
   * first). Computed only when asked: nothing is counted per event or per connection.
   */
  async describe(maxHeld = 0): Promise<{
    name: string | null;
    sockets: number;
    sessions: number;
    topics: number;
    held: Record<string, number>;
  }> {
    const counts = new Map<string, number>();
    if (maxHeld > 0) {
      for (const socket of [...this.#jsonById.values(), ...this.#engine.sessions]) {
        for (const topic of socket.subscriptions.keys()) counts.set(topic, (counts.get(topic) ?? 0) + 1);
      }
    }
    return {
      name: this.#name,
      sockets: this.#sockets.size,
      sessions: [...this.#engine.sessions].length,
      topics: this.index.topicCount,
      held: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).slice(0, maxHeld)),
    };
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const socket = this.#sockets.get(ws);
    if (!socket) {
      ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
      return;
    }
    if (socket.protocol === "json") await this.#json.onMessage(socket, message, Date.now());
    else this.#engine.onWebSocketMessage(socket, ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#forgetWebSocket(ws);
    // Complete the closing handshake (a no-op if we started it).
    try {
      ws.close(code === 1005 || code === 1006 ? CLOSE_CODES.normal : code, "closed");
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#forgetWebSocket(ws);
  }

  /** Token expiries, lease renewals, and on Socket.IO hubs the heartbeat; then the next alarm. */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    // A renewal time more than a period ahead is not to be trusted (the clock went back): renew.
    const renewDue = now >= this.#renewAt || this.#renewAt - now > HUB_RENEW_MS;
    if (renewDue && this.index.topicCount > 0) {
      this.#renewAt = now + HUB_RENEW_MS;
      this.#store.setLastRenewAt(now);
      await this.index.renewAll();
    }
    for (const socket of [...this.#sockets.values()]) {
      if (socket.protocol === "json" && accessEndsAt(socket.principal) <= now) this.#json.expire(socket);
    }
    for (const session of [...this.#engine.sessions]) {
      if (session.principal && accessEndsAt(session.principal) <= now) this.#sio.expire(session);
    }
    if (this.#name !== null && isSocketIoHub(this.#name) && [...this.#engine.sessions].length > 0) {
      const lastPingAt = this.#store.lastPingAt();
      if (lastPingAt === null || now - lastPingAt >= PING_INTERVAL_MS - 1000) {
        this.#engine.heartbeat(now, (ws) => this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null);
        this.#store.setLastPingAt(now);
      }
    }
    this.#store.pruneRecovery(now);
    this.#alarmBy(this.#earliestAlarm());
  }

  #forgetWebSocket(ws: WebSocket): void {
    const socket = this.#sockets.get(ws);
    if (!socket) return;
    this.#sockets.delete(ws);
    if (socket.protocol === "json") {
      this.#jsonById.delete(socket.id);
      const open = (this.#jsonPerUser.get(socket.principal.sub) ?? 1) - 1;
      if (open > 0) this.#jsonPerUser.set(socket.principal.sub, open);
      else this.#jsonPerUser.delete(socket.principal.sub);
      // Sessions that end without end_editing: the document must update the other editors.
      this.#json.endEditingSessions(socket);
      this.index.removeSocket(socket);
      this.#forgetStored(socket.id);
      return;
    }
    this.#engine.onWebSocketClose(socket, ws);
  }

  /** A Socket.IO session ended: keep what recovery needs, then drop its subscriptions. */
  #forgetSession(session: EngineSession): void {
    for (const ws of [session.ws, session.probe]) if (ws) this.#sockets.delete(ws);
    const record = session.pid === null ? null : this.#sio.recoveryRecord(session);
    if (record && session.pid !== null) this.#store.putRecovery(session.pid, record, Date.now() + RECOVERY_WINDOW_MS);
    this.index.removeSocket(session);
    this.#forgetStored(session.id);
  }

  #forgetStored(socketId: string): void {
    if (this.#spilled.delete(socketId)) this.#store.deleteSocket(socketId);
  }

  /**
   * Recovery records live on the hub of the session that left them; the pid names it. The pid
   * comes from an unauthenticated CONNECT: only a hub the configuration names is ever addressed.
   */
  async #takeRecoveryFrom(pid: string): Promise<RecoveryRecord | null> {
    const hub = sioHubOfSessionId(pid, parseShardCount(this.env.HUB_SHARDS));
    if (hub === null) return null;
    if (hub === this.#name) return this.#store.takeRecovery(pid, Date.now());
    return this.env.HUB.getByName(hub).takeRecovery(pid);
  }

  #closeJson(socket: JsonSocket, code: number, reason: string): void {
    this.#forgetWebSocket(socket.ws);
    try {
      socket.ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  #writeJsonAttachment(socket: JsonSocket): void {
    this.#writeAttachment(socket, socket.ws, {
      v: ATTACHMENT_VERSION,
      id: socket.id,
      protocol: "json",
      principal: socket.principal,
    });
  }

  #writeSioAttachment(session: EngineSession, ws: WebSocket): void {
    this.#writeAttachment(session, ws, {
      v: ATTACHMENT_VERSION,
      id: session.sid,
      protocol: "sio",
      sioId: session.sioId,
      pid: session.pid,
      principal: session.principal,
      openedAt: session.openedAt,
    });
  }

  /**
   * Writes a socket's attachment with its subscriptions inline when they fit (no storage write:
   * a subscribe costs no commit), else with them in SQLite.
   */
  #writeAttachment(socket: HubSocket, ws: WebSocket, attachment: SocketAttachment): void {
    const subs: AttachedSubscription[] = [];
    for (const { topic, zones, reasons } of socket.subscriptions.values()) {
      subs.push([topic, zones, reasons.explicit, reasons.editing]);
    }
    const inline = { ...attachment, subs };
    if (JSON.stringify(inline).length <= MAX_INLINE_ATTACHMENT_CHARS) {
      writeAttachment(ws, inline);
      this.#forgetStored(socket.id);
      return;
    }
    this.#store.replaceSubscriptions(
      socket.id,
      subs.map(([topic, zones, explicit, editing]) => ({ topic, zones, explicit, editing })),
    );
    this.#spilled.add(socket.id);
    writeAttachment(ws, { ...attachment, subs: "stored" });
  }

  /**
   * When the one alarm is due: the earliest token expiry, the next lease renewal while the hub
   * holds topics, and the next ping while Engine.IO sessions are open. A full scan, for the alarm itself and a wake; a new socket or token only
   * moves the alarm earlier ({@link #alarmBy}), so connecting stays O(1).
   */
  #earliestAlarm(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const socket of this.#sockets.values()) {
      if (socket.protocol === "json") at = Math.min(at, accessEndsAt(socket.principal));
    }
    let sessions = 0;
    for (const session of this.#engine.sessions) {
      sessions += 1;
      if (session.principal) at = Math.min(at, accessEndsAt(session.principal));
    }
    if (sessions > 0) at = Math.min(at, this.#nextPingAt());
    if (this.index.topicCount > 0) at = Math.min(at, this.#renewAt);
    return at;
  }

  #nextPingAt(): number {
    return (this.#store.lastPingAt() ?? Date.now()) + PING_INTERVAL_MS;
  }

  /** Sets the alarm for `at` unless it is already due no later. */
  #alarmBy(at: number): void {
    if (at === Number.POSITIVE_INFINITY) return;
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
