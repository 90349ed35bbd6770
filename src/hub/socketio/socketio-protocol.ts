/**
 * Socket.IO v5 over the hub's Engine.IO sessions, speaking the QuantEnergx events of the
 * QuantEnergx protocol document (docs/PROTOCOL.md): authenticate, the user's private rooms, market
 * feeds, ping, and the server events fed by topics. One namespace, "/".
 */
import * as v from "valibot";
import { accessEndsAt, canAccess, type Principal } from "../../auth/principal";
import { type AuthConfig, verifyToken } from "../../auth/verify-token";
import { CLOSE_CODES, ProtocolError } from "../../protocol/errors";
import { MAX_SIO_SESSIONS_PER_USER, MAX_SUBSCRIPTIONS_PER_SOCKET } from "../../protocol/limits";
import {
  AuthenticateSchema,
  CommodityListSchema,
  MARKET_CHANNEL,
  roomOfTopic,
  SYSTEM_ALERTS_CHANNEL,
  USER_ROOMS,
  UserIdSchema,
} from "../../protocol/quantenergx/events";
import { encodeEnginePacket } from "../../protocol/socketio/engine";
import {
  decodeSioPacket,
  encodeAck,
  encodeEvent,
  encodeSioPacket,
  encodeTopicEventOpen,
  SIO,
  type SioPacket,
} from "../../protocol/socketio/parser";
import type { AttachResult } from "../../protocol/topics";
import { parseTopicName, type TopicEvent, topicName } from "../../protocol/topics";
import { asRefusal, type InboundSocket, type InboundWire, Malformed } from "../../socket-host/inbound";
import { MessageRateLimiter } from "../../socket-host/rate-limiter";
import type { LocalSubscription, Subscribed, SubscriberSocket, SubscriptionIndex } from "../subscriptions";
import type { EngineIo, EngineSession } from "./engine-io";
import { emptyRecoveryLog, noteJoin, noteSent, type RecoveryLog, recoveryWanted, resumePoints } from "./recovery-log";

/** What recovery needs to resume a session elsewhere: who, its rooms, and what it was sent. */
export interface RecoveryRecord {
  principal: Principal;
  rooms: string[];
  log: RecoveryLog;
}

/** A Socket.IO socket: its state, beside the Engine.IO session that carries it. */
export interface SioSocket extends SubscriberSocket, InboundSocket {
  /** The Engine.IO session; its sid is also this socket's id. */
  readonly engine: EngineSession;
  /** The Socket.IO socket id once CONNECT to "/" succeeded, else null. */
  sioId: string | null;
  principal: Principal | null;
  /** Connection-state-recovery id, sent to the client in CONNECT. */
  pid: string | null;
  /** Offsets of the room events sent, for recovery; null when recovery is off or lost (a wake). */
  recovery: RecoveryLog | null;
}

/** The one constructor of a socket: new on a new session, or restored after a wake. */
export function sioSocket(
  engine: EngineSession,
  state: Pick<SioSocket, "sioId" | "principal" | "pid"> = { sioId: null, principal: null, pid: null },
): SioSocket {
  return {
    engine,
    id: engine.sid,
    subscriptions: new Map(),
    ...state,
    // What was sent before a hibernation is not known: a restored session cannot be resumed.
    recovery: null,
    rate: new MessageRateLimiter(Date.now()),
    inbox: Promise.resolve(),
  };
}

/** When a socket's token ends; never while it has none. */
export function sioExpiresAt(socket: SioSocket): number {
  return socket.principal ? accessEndsAt(socket.principal) : Number.POSITIVE_INFINITY;
}

/** What the Socket.IO layer needs from its hub. */
export interface SioHub {
  engine: EngineIo;
  index: SubscriptionIndex<SioSocket>;
  /** Every Socket.IO socket of the hub. */
  sockets(): Iterable<SioSocket>;
  authConfig(): AuthConfig;
  /** Persists a WebSocket session's Socket.IO state in its attachment. */
  saveSession(session: SioSocket): void;
  /** The session's token changed: its expiry may be the hub's next alarm. */
  principalChanged(session: SioSocket): void;
  /** Whether clients get connection state recovery unless their CONNECT auth says otherwise. */
  recoveryByDefault(): boolean;
  /** A new private recovery id for this hub. */
  newPid(): string;
  /** Takes (and removes) what a previous session left for recovery, from whichever hub has it. */
  takeRecovery(pid: string): Promise<RecoveryRecord | null>;
}

type EventHandler = (session: SioSocket, args: unknown[]) => Promise<unknown>;

export class SocketIoProtocol implements InboundWire<SioSocket, string, SioPacket> {
  /**
   * Each delivered event's Socket.IO frame without its closing `]`, encoded once per hub. By
   * event, not only the last one: a delivery of many events goes session by session.
   */
  #frames = new WeakMap<TopicEvent, string>();
  #handlers: Record<string, EventHandler>;

  constructor(private readonly hub: SioHub) {
    this.#handlers = {
      authenticate: (session, args) => this.#authenticate(session, args[0]),
      ping: async (session) => {
        const pong = { timestamp: Date.now() };
        this.#emit(session, "pong", pong);
        return pong;
      },
      "join-trading": (session, args) => this.#joinUserRoom(session, "trading", args[0]),
      "subscribe-orders": (session, args) => this.#joinUserRoom(session, "orders", args[0]),
      "subscribe-compliance": (session, args) => this.#joinUserRoom(session, "compliance", args[0]),
      "subscribe-market": (session, args) => this.#subscribeMarket(session, args[0]),
      "unsubscribe-market": (session, args) => this.#unsubscribeMarket(session, args[0]),
    };
  }

  // -------------------------------------------------------------------------------------------
  // The inbound wire (socket-host/inbound.ts): one Engine.IO message's data is one packet.

  readonly maxFrameBytes = null; // Engine.IO bounds its payloads

  expiresAt(session: SioSocket): number {
    return sioExpiresAt(session);
  }

  decode(_session: SioSocket, data: string): SioPacket | Malformed {
    try {
      return decodeSioPacket(data);
    } catch {
      // Like socket.io: a packet that cannot be parsed ends the connection.
      return new Malformed(null, { code: CLOSE_CODES.unsupported_data, reason: "malformed Socket.IO packet" });
    }
  }

  /** Events need a live token, except `authenticate`, which brings a new one (as CONNECT can). */
  needsToken(packet: SioPacket): boolean {
    return packet.type === SIO.EVENT && eventName(packet) !== "authenticate";
  }

  close(session: SioSocket, code: number, reason: string): void {
    this.hub.engine.close(session.engine, code, reason);
  }

  /** A refusal: in the ack when the client asked for one, else as an `error` event. */
  refuse(session: SioSocket, error: ProtocolError, packet: SioPacket | null): void {
    const details = error.details ?? {};
    const event = packet?.type === SIO.EVENT ? eventName(packet) : undefined;
    const payload = {
      code: error.code,
      message: error.message,
      details: event === undefined ? details : { event, ...details },
    };
    if (packet?.id !== undefined) {
      this.hub.engine.send(session.engine, encodeEnginePacket("message", encodeAck(packet.id, [{ error: payload }])));
    } else this.#emit(session, "error", payload);
  }

  /**
   * Sends one topic event to a Socket.IO session as `42["event", data, "<offset>"]`: the offset
   * (with recovery on) is what the client sends back to resume. The event part is encoded once
   * per hub, the offset appended per session.
   */
  emitTopicEvent(session: SioSocket, subscription: LocalSubscription, event: TopicEvent): void {
    let open = this.#frames.get(event);
    if (open === undefined) {
      open = encodeTopicEventOpen(event);
      this.#frames.set(event, open);
    }
    const text = session.recovery
      ? `${open},"${noteSent(session.recovery, subscription.topic, event.seq)}"]`
      : `${open}]`;
    this.hub.engine.send(session.engine, text);
  }

  /**
   * The room's stream skipped events this session will never get (it fell too far behind):
   * `resync {room, seq, recovered: false}` tells the client to reload that room's data, then the
   * room's latest state follows when it has one (a commodity's last tick).
   */
  resync(session: SioSocket, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void {
    const { channel, key } = parseTopicName(subscription.topic);
    if (session.recovery) noteJoin(session.recovery, subscription.topic, seq, latest ? [latest.seq] : []);
    this.#emit(session, "resync", { room: roomOfTopic(channel, key), seq, recovered: false });
    if (latest) this.emitTopicEvent(session, subscription, latest);
  }

  /** The token ran out: `auth-error`, then the session ends (close 4401 on a WebSocket). */
  expire(session: SioSocket): void {
    this.#emit(session, "auth-error", { message: "Token expired", code: "authentication_error" });
    this.hub.engine.send(
      session.engine,
      encodeEnginePacket("message", encodeSioPacket({ type: SIO.DISCONNECT, nsp: "/" })),
    );
    this.hub.engine.close(session.engine, CLOSE_CODES.authentication_failed, "token expired");
  }

  /** What a closing session leaves for recovery, or null when there is nothing to resume. */
  recoveryRecord(session: SioSocket): RecoveryRecord | null {
    if (!session.principal || session.pid === null || !session.recovery) return null;
    return { principal: session.principal, rooms: [...session.subscriptions.keys()], log: session.recovery };
  }

  async run(session: SioSocket, packet: SioPacket): Promise<void> {
    switch (packet.type) {
      case SIO.CONNECT:
        if (packet.nsp !== "/") {
          this.#send(session, { type: SIO.CONNECT_ERROR, nsp: packet.nsp, data: { message: "Invalid namespace" } });
          return;
        }
        return this.#connect(session, packet.data as Record<string, unknown> | undefined);
      case SIO.DISCONNECT:
        if (packet.nsp === "/") this.#disconnect(session);
        return;
      case SIO.EVENT:
        if (session.sioId === null || packet.nsp !== "/") return;
        return this.#event(session, packet);
      case SIO.BINARY_EVENT:
      case SIO.BINARY_ACK:
        if (session.sioId !== null) {
          throw new ProtocolError("invalid_message", "Binary attachments are not supported", {
            details: { issue: "binary" },
          });
        }
        return;
      default:
        return; // ACKs from the client (we ask for none), CONNECT_ERROR
    }
  }

  async #connect(session: SioSocket, auth: Record<string, unknown> | undefined): Promise<void> {
    if (session.sioId !== null) {
      this.#send(session, { type: SIO.CONNECT, nsp: "/", data: { sid: session.sioId, pid: session.pid } });
      return;
    }
    let principal: Principal | null = null;
    const refuse = (error: unknown) => {
      const refusal = asRefusal(error, "Socket.IO CONNECT");
      this.#send(session, {
        type: SIO.CONNECT_ERROR,
        nsp: "/",
        data: { message: refusal.message, data: { code: refusal.code, ...(refusal.details ?? {}) } },
      });
    };
    if (auth && typeof auth.token === "string") {
      try {
        principal = await this.#verify({ token: auth.token, userId: auth.userId });
        this.#checkSessionLimit(session, principal.sub);
      } catch (error) {
        refuse(error);
        return;
      }
    }
    const recovery = recoveryWanted(auth, this.hub.recoveryByDefault());
    const pid = recovery && typeof auth?.pid === "string" ? auth.pid : null;
    const offset = typeof auth?.offset === "string" && /^\d{1,15}$/.test(auth.offset) ? Number(auth.offset) : null;
    const record = pid === null ? null : await this.hub.takeRecovery(pid).catch(() => null);
    let resume =
      record && accessEndsAt(record.principal) > Date.now() && (!principal || principal.sub === record.principal.sub)
        ? resumePoints(record.log, record.rooms, offset)
        : null;
    // Checked again with nothing awaited before the principal is adopted: another session of the
    // user may have authenticated meanwhile. A recovered principal over the limit is not resumed.
    try {
      if (principal) this.#checkSessionLimit(session, principal.sub);
      else if (resume && record) this.#checkSessionLimit(session, record.principal.sub);
    } catch (error) {
      if (principal) {
        refuse(error);
        return;
      }
      resume = null;
    }
    session.sioId = crypto.randomUUID();
    session.pid = !recovery ? null : resume && pid !== null ? pid : this.hub.newPid();
    session.recovery = !recovery ? null : resume && record ? emptyRecoveryLog(record.log.next) : emptyRecoveryLog();
    if (resume && record && !principal) principal = record.principal;
    if (principal) session.principal = principal;
    // A CONNECT token narrower than the one that left the record: the markets it no longer
    // reaches are not resumed.
    const dropped = resume && principal ? this.#unreachable(principal, Object.keys(resume)) : [];
    for (const topic of dropped) delete resume?.[topic];
    this.hub.saveSession(session);
    this.hub.principalChanged(session);
    const reply = session.pid === null ? { sid: session.sioId } : { sid: session.sioId, pid: session.pid };
    this.#send(session, { type: SIO.CONNECT, nsp: "/", data: reply });
    this.#marketsEnded(session, dropped);
    if (resume) await this.#recover(session, resume);
    else if (session.principal) await this.#authenticated(session);
  }

  /** Resumes a previous session's rooms from right after what the client received, missed events first. */
  async #recover(session: SioSocket, resume: Record<string, number>): Promise<void> {
    for (const [topic, since] of Object.entries(resume)) {
      const subscribed = await this.hub.index.subscribe(session, topic, null, since);
      if (!subscribed) continue;
      if (session.recovery) session.recovery.baseline[topic] = since;
      for (const event of subscribed.result.events) this.emitTopicEvent(session, subscribed.subscription, event);
      this.hub.index.goLive(session, subscribed.subscription, subscribed.result.seq);
    }
  }

  #disconnect(session: SioSocket): void {
    for (const topic of [...session.subscriptions.keys()]) this.hub.index.unsubscribe(session, topic);
    session.sioId = null;
    session.principal = null;
    this.hub.saveSession(session);
  }

  async #event(session: SioSocket, packet: SioPacket): Promise<void> {
    const event = eventName(packet);
    const handler = Object.hasOwn(this.#handlers, event) ? this.#handlers[event] : undefined;
    if (!handler) {
      throw new ProtocolError("invalid_event", `Event type "${event}" is unknown`, {
        details: { events: Object.keys(this.#handlers) },
      });
    }
    if (!session.principal && event !== "authenticate" && event !== "ping") {
      throw new ProtocolError("authentication_error", "Authenticate first");
    }
    const [, ...args] = packet.data as unknown[];
    const reply = await handler(session, args);
    if (packet.id !== undefined) this.#send(session, { type: SIO.ACK, nsp: "/", id: packet.id, data: [reply ?? null] });
  }

  // -------------------------------------------------------------------------------------------
  // The QuantEnergx events. Each returns the payload of its confirmation, also given to an ack.

  async #authenticate(session: SioSocket, payload: unknown): Promise<unknown> {
    let principal: Principal;
    try {
      principal = await this.#verify(payload);
      this.#checkSessionLimit(session, principal.sub);
    } catch (error) {
      const refusal = asRefusal(error, "Socket.IO authenticate");
      const reply = {
        message: refusal.message,
        code: refusal.code,
        ...(refusal.details ? { details: refusal.details } : {}),
      };
      this.#emit(session, "auth-error", reply);
      return reply;
    }
    const wasAuthenticated = session.principal !== null;
    if (wasAuthenticated && session.principal?.sub !== principal.sub) {
      // Another user on the same connection: start clean rather than mix two users' rooms.
      this.#disconnectRooms(session);
    }
    session.principal = principal;
    // The same user with a narrower token: the markets it no longer reaches end (as refresh_token
    // ends subscriptions on /v1/ws). The user's own rooms do not depend on `resources`.
    const dropped = this.#unreachable(principal, [...session.subscriptions.keys()]);
    for (const topic of dropped) this.hub.index.unsubscribe(session, topic);
    this.hub.saveSession(session);
    this.hub.principalChanged(session);
    const reply = { message: "Authentication successful", userId: principal.sub };
    this.#emit(session, "auth-success", reply);
    this.#marketsEnded(session, dropped);
    await this.#authenticated(session);
    return reply;
  }

  /** The market topics among `topics` that `principal`'s `resources` do not reach. */
  #unreachable(principal: Principal, topics: string[]): string[] {
    return topics.filter((topic) => {
      const { channel, key } = parseTopicName(topic);
      return channel === MARKET_CHANNEL && key !== null && !canAccess(principal, "commodity", key);
    });
  }

  /** Tells the client which market subscriptions ended because its token no longer reaches them. */
  #marketsEnded(session: SioSocket, topics: string[]): void {
    if (topics.length === 0) return;
    const commodities = topics.map((topic) => parseTopicName(topic).key as string);
    this.#emit(session, "market-unsubscribed", {
      commodities,
      message: `Unsubscribed from market data for: ${commodities.join(", ")}`,
      reason: "authorization_error",
    });
  }

  /** `{userId, token}`: the token verified like any other, and `userId` must be its `sub`. */
  async #verify(payload: unknown): Promise<Principal> {
    const parsed = v.safeParse(AuthenticateSchema, payload);
    if (!parsed.success) {
      throw new ProtocolError("authentication_error", "Invalid authentication data", {
        details: { reason: "invalid_payload" },
      });
    }
    const principal = await verifyToken(parsed.output.token, this.hub.authConfig());
    if (principal.sub !== parsed.output.userId) {
      throw new ProtocolError("authentication_error", "userId does not match the token", {
        details: { reason: "subject_mismatch" },
      });
    }
    return principal;
  }

  /**
   * A user's authenticated sessions on this hub are bounded (MAX_SIO_SESSIONS_PER_USER); the
   * session itself does not count, so authenticating it again as the same user is always fine.
   */
  #checkSessionLimit(session: SioSocket, sub: string): void {
    let open = 0;
    for (const other of this.hub.sockets()) if (other !== session && other.principal?.sub === sub) open += 1;
    if (open >= MAX_SIO_SESSIONS_PER_USER) {
      throw new ProtocolError("authorization_error", `At most ${MAX_SIO_SESSIONS_PER_USER} sessions per user`, {
        details: { issue: "connection_limit", limit: MAX_SIO_SESSIONS_PER_USER },
      });
    }
  }

  /** Every authenticated client receives system alerts. */
  async #authenticated(session: SioSocket): Promise<void> {
    const topic = topicName({ channel: SYSTEM_ALERTS_CHANNEL, key: null });
    if (session.subscriptions.has(topic)) return;
    const subscribed = await this.hub.index.subscribe(session, topic, null, null);
    if (subscribed) this.#goLive(session, subscribed, false);
  }

  async #joinUserRoom(session: SioSocket, room: keyof typeof USER_ROOMS, payload: unknown): Promise<unknown> {
    const userId = this.#ownUserId(session, payload);
    const spec = USER_ROOMS[room];
    const subscribed = await this.#subscribe(session, topicName({ channel: spec.channel, key: userId }));
    if (subscribed) this.#goLive(session, subscribed, false);
    const confirmations = {
      trading: ["trading-joined", { room: spec.room(userId), message: `Joined trading room for user ${userId}` }],
      orders: [
        "orders-subscribed",
        { userId, room: spec.room(userId), message: `Subscribed to order updates for user ${userId}` },
      ],
      compliance: [
        "compliance-subscribed",
        { userId, room: spec.room(userId), message: `Subscribed to compliance alerts for user ${userId}` },
      ],
    } as const;
    const [event, reply] = confirmations[room];
    this.#emit(session, event, reply);
    return reply;
  }

  /** A user joins only their own rooms. */
  #ownUserId(session: SioSocket, payload: unknown): string {
    const parsed = v.safeParse(UserIdSchema, payload);
    if (!parsed.success)
      throw new ProtocolError("invalid_message", "Expected a user id string", {
        details: { issue: "invalid_user_id" },
      });
    if (parsed.output !== session.principal?.sub) {
      throw new ProtocolError("authorization_error", "You can only join your own rooms", {
        details: { userId: parsed.output },
      });
    }
    return parsed.output;
  }

  async #subscribeMarket(session: SioSocket, payload: unknown): Promise<unknown> {
    const commodities = this.#commodities(payload);
    for (const commodity of commodities) {
      if (!canAccess(session.principal as Principal, "commodity", commodity)) {
        throw new ProtocolError("authorization_error", "Insufficient permissions", {
          details: { resource: `commodity:${commodity}` },
        });
      }
    }
    // All or nothing: a batch that would pass the limit is refused before any of it subscribes,
    // and one that fails half way leaves none of what it added.
    const topics = commodities.map((commodity) => topicName({ channel: MARKET_CHANNEL, key: commodity }));
    this.#checkLimit(session, topics);
    const added = topics.filter((topic) => !session.subscriptions.has(topic));
    const pending: NonNullable<Subscribed>[] = [];
    try {
      for (const topic of topics) {
        const subscribed = await this.#subscribe(session, topic);
        if (subscribed) pending.push(subscribed);
      }
    } catch (error) {
      for (const topic of added) this.hub.index.unsubscribe(session, topic);
      throw error;
    }
    const reply = { commodities, message: `Subscribed to market data for: ${commodities.join(", ")}` };
    this.#emit(session, "market-subscribed", reply);
    // The latest tick of each commodity that has one follows the confirmation at once.
    for (const subscribed of pending) this.#goLive(session, subscribed, true);
    return reply;
  }

  async #unsubscribeMarket(session: SioSocket, payload: unknown): Promise<unknown> {
    const commodities = this.#commodities(payload);
    for (const commodity of commodities) {
      this.hub.index.release(session, topicName({ channel: MARKET_CHANNEL, key: commodity }), "explicit");
    }
    const reply = { commodities, message: `Unsubscribed from market data for: ${commodities.join(", ")}` };
    this.#emit(session, "market-unsubscribed", reply);
    return reply;
  }

  #commodities(payload: unknown): string[] {
    const parsed = v.safeParse(CommodityListSchema, payload);
    if (!parsed.success) {
      throw new ProtocolError(
        "invalid_message",
        `Expected an array of commodities: ${parsed.issues[0]?.message ?? "invalid"}`,
        {
          details: { issue: "invalid_commodities" },
        },
      );
    }
    return [...new Set(parsed.output)];
  }

  async #subscribe(session: SioSocket, topic: string): Promise<Subscribed> {
    this.#checkLimit(session, [topic]);
    if (session.subscriptions.get(topic)?.pending === null) return null; // already live: nothing to resend
    return this.hub.index.subscribe(session, topic, null, null);
  }

  /** The rooms a request would add must fit MAX_SUBSCRIPTIONS_PER_SOCKET; as on `/v1/ws`. */
  #checkLimit(session: SioSocket, topics: string[]): void {
    const added = new Set(topics.filter((topic) => !session.subscriptions.has(topic))).size;
    if (added > 0 && session.subscriptions.size + added > MAX_SUBSCRIPTIONS_PER_SOCKET) {
      throw new ProtocolError("invalid_subscription", "Too many subscriptions on this connection", {
        details: { issue: "subscription_limit", limit: MAX_SUBSCRIPTIONS_PER_SOCKET },
      });
    }
  }

  /** Sends the topic's initial events (latest state or replay), then what arrived meanwhile. */
  #goLive(
    session: SioSocket,
    { result, subscription }: { result: AttachResult; subscription: LocalSubscription },
    initial: boolean,
  ): void {
    const initialEvents = initial ? result.events : [];
    if (session.recovery) {
      noteJoin(
        session.recovery,
        subscription.topic,
        result.seq,
        initialEvents.map((event) => event.seq),
      );
    }
    for (const event of initialEvents) this.emitTopicEvent(session, subscription, event);
    this.hub.index.goLive(session, subscription, result.seq);
  }

  #disconnectRooms(session: SioSocket): void {
    for (const topic of [...session.subscriptions.keys()]) this.hub.index.unsubscribe(session, topic);
  }

  #emit(session: SioSocket, event: string, payload: unknown): void {
    this.hub.engine.send(session.engine, encodeEnginePacket("message", encodeEvent(event, [payload])));
  }

  #send(session: SioSocket, packet: SioPacket): void {
    this.hub.engine.send(session.engine, encodeEnginePacket("message", encodeSioPacket(packet)));
  }
}

/** The event name of an EVENT packet (`["name", ...args]`). */
function eventName(packet: SioPacket): string {
  return String((packet.data as unknown[])[0]);
}
