/**
 * The Equihome JSON protocol client: one reconnecting socket to `/v1/ws`, requests matched to
 * replies by `id`, subscriptions that survive reconnects without loss or duplicates, token
 * refresh, and editing sessions. docs/PROTOCOL.md is the contract it implements.
 *
 * The socket's lifecycle (connect, detect a close, reconnect, connection timeout) is
 * partysocket's `ReconnectingWebSocket`; its own fixed backoff is turned off and replaced by the
 * jittered one of backoff.ts, applied in its URL provider, which also fetches a fresh token for
 * every connection.
 */
import ReconnectingWebSocket from "partysocket/ws";
import { CHANNELS, type ChannelName } from "../../src/protocol/equihome/channels";
import type { ReplyData, ReplyEvent } from "../../src/protocol/equihome/replies";
import { MESSAGE_BURST, MESSAGES_PER_SECOND } from "../../src/protocol/limits";
import { TokenBucket } from "../../src/protocol/token-bucket";
import { type BackoffOptions, backoffDelay } from "./backoff";
import { applyUpdate, type JsonObject } from "./document";
import { Emitter } from "./emitter";
import { EquihomeError } from "./errors";
import { refreshDelay, tokenExpiry } from "./jwt";
import { SeqTracker } from "./seq";
import {
  CHANNEL_EVENTS,
  type ChannelEventName,
  type ChannelEvents,
  type Editor,
  type EventMeta,
  type EventsOf,
  RESOURCE_CHANNELS,
  type ReloadInfo,
  type ResourceRef,
  type SubscribeParams,
} from "./types";

/** A token, or a function that returns a fresh one (called for every connection and before expiry). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The `/v1/ws` endpoint, e.g. `wss://realtime.example.com/v1/ws`. */
  url: string;
  token: TokenSource;
  /** How long a request waits for its reply (default 10 s). */
  requestTimeoutMs?: number;
  /** Reconnection backoff (default: full jitter, 500 ms doubling up to 30 s). */
  backoff?: BackoffOptions;
  /** How long a connection attempt may take before it is abandoned and retried (default 10 s). */
  connectionTimeoutMs?: number;
  /**
   * How long before `exp` a provider's token is refreshed: a fifth of its remaining life, at
   * most this long (default 60 s).
   */
  refreshMarginMs?: number;
  /** A WebSocket constructor, where there is no global one. */
  WebSocket?: unknown;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** False when the client stops: `close()` was called, or a fixed token was refused (4401). */
  reconnecting: boolean;
}

export interface EndedInfo {
  channel: ChannelName;
  key: string | null;
  /** `authorization_error` when a refreshed token no longer reaches the channel, or a resubscription's error code. */
  reason: string;
}

/** The events of {@link EquihomeClient.on}: every channel event by name, and the connection's own. */
export type ClientEvents = { [E in ChannelEventName]: [data: ChannelEvents[E], meta: EventMeta] } & {
  /** The socket opened (first connection and every reconnection). */
  open: [];
  close: [info: CloseInfo];
  /** A subscription lost events that cannot be replayed: reload its state. */
  reload: [info: ReloadInfo];
  /** The server ended a subscription. */
  unsubscribed: [info: EndedInfo];
  /** An error frame that answers no request (a refused token at connect, expiry), or a token provider failure. */
  error: [error: EquihomeError];
  token_refreshed: [info: ReplyData<"token_refreshed">];
};

/** The events of one {@link Subscription}: its channel's events, and its own reload and end. */
export type SubscriptionEvents<C extends ChannelName> = {
  [E in EventsOf<C>]: [data: ChannelEvents[E], meta: EventMeta];
} & {
  reload: [info: ReloadInfo];
  unsubscribed: [info: EndedInfo];
};

export interface Subscription<C extends ChannelName = ChannelName> {
  readonly channel: C;
  readonly key: string | null;
  /** The seq of the last event delivered (or the subscription's baseline). */
  readonly lastSeq: number | null;
  on<E extends keyof SubscriptionEvents<C>>(
    event: E,
    listener: (...args: SubscriptionEvents<C>[E]) => void,
  ): () => void;
  /** Leaves the channel (once every handle of it, and any editing session on it, has left). */
  unsubscribe(): Promise<void>;
}

export type EditingEvents = {
  /** A `resource_updated` applied to `document` (from anyone: this session's `set` too). */
  change: [data: ChannelEvents["resource_updated"], meta: EventMeta];
  editors: [editors: Editor[]];
  /** `document` was replaced by a fresh copy from the server (after a reconnect or a reload). */
  reload: [document: JsonObject];
  /** The server ended the session (a refreshed token no longer reaches the resource). */
  ended: [info: EndedInfo];
};

export interface EditingSession {
  readonly resource_type: ResourceRef["resource_type"];
  readonly resource_id: string;
  /** The document's JSON form, kept current by every `resource_updated`. */
  readonly document: JsonObject;
  /** Who has the document open, kept current by `editors_updated`. */
  readonly editors: Editor[];
  on<E extends keyof EditingEvents>(event: E, listener: (...args: EditingEvents[E]) => void): () => void;
  /** Sets one leaf; resolves with the edit's seq once the server has stored and acknowledged it. */
  set(path: string, value: unknown): Promise<{ seq: number }>;
  /** Ends the session (`end_editing`) and leaves the channel if nothing else holds it. */
  stop(): Promise<void>;
}

/**
 * Each server event's `data`: replies and notices as the hub encodes them (replies.ts), channel
 * events as the server validated them. Types only: a frame is not validated at run time.
 */
type FrameData = { [E in ReplyEvent]: ReplyData<E> } & ChannelEvents;

/** A server frame, by event. */
type FrameOf<E extends keyof FrameData> = {
  [K in E]: { event: K; data: FrameData[K]; id?: string | number; seq?: number };
}[E];

type Frame = FrameOf<keyof FrameData>;

interface Pending {
  id: string;
  event: string;
  data: Record<string, unknown>;
  /** The reply events that settle it (an `error` with its id always does). */
  expect: readonly string[];
  onReply(frame: Frame): void;
  onError(error: EquihomeError): void;
  timer: ReturnType<typeof setTimeout>;
  /** Subscriptions and editing sessions: made again on each connection, never carried over. */
  internal: boolean;
  /** In the outbox of the current connection (sent, or waiting for the pacer). */
  queued: boolean;
  /** Handed to the socket. */
  sent: boolean;
}

interface Entry {
  channel: ChannelName;
  key: string | null;
  name: string;
  params: Record<string, unknown>;
  tracker: SeqTracker;
  /** Public handles plus an editing session. */
  holders: number;
  confirmed: boolean;
  /** While a subscribe with new parameters (other `zones`) is unanswered: the parameters before it. */
  previous: Record<string, unknown> | undefined;
  /** `subscribe()` calls waiting for the first `subscribed`. */
  waiters: { resolve(): void; reject(error: EquihomeError): void }[];
  emitter: Emitter<SubscriptionEvents<ChannelName>>;
  session: Session | undefined;
}

const OPEN = 1;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A connection that stays open this long resets the backoff. */
const STABLE_AFTER_MS = 5_000;
/** The server's per-socket rate limit, with a wide margin: the server measures when it handles a frame. */
const PACE = { rate: MESSAGES_PER_SECOND * 0.8, burst: Math.floor(MESSAGE_BURST / 2) };
/** Unanswered requests at once on a connection (see #drain). */
const MAX_IN_FLIGHT = 16;
/** A failed token refresh is retried after this long (while the socket is open). */
const REFRESH_RETRY_MS = 5_000;
/** A request the server dropped for rate is sent again after this long. */
const RATE_LIMITED_RETRY_MS = 1_000;

const EVENT_CHANNEL = new Map<string, ChannelName>();
for (const [channel, events] of Object.entries(CHANNEL_EVENTS) as [ChannelName, readonly string[]][]) {
  for (const event of events) if (event !== "resource_updated") EVENT_CHANNEL.set(event, channel);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const entryName = (channel: string, key: string | null) => (key === null ? channel : `${channel}\u0000${key}`);

function keyOf(channel: string, params: Record<string, unknown>): string | null {
  const spec = (CHANNELS as Record<string, { keyField: string | null } | undefined>)[channel];
  if (!spec || spec.keyField === null) return null;
  const key = params[spec.keyField];
  return typeof key === "string" ? key : String(key);
}

function isRateLimited(frame: FrameOf<"error">): boolean {
  return isObject(frame.data.details) && frame.data.details.issue === "rate_limited";
}

function errorFrom({ data }: FrameOf<"error">): EquihomeError {
  const code = typeof data.code === "string" ? data.code : "server_error";
  const message = typeof data.message === "string" ? data.message : "Unknown error";
  return new EquihomeError(code, message, isObject(data.details) ? data.details : undefined);
}

export class EquihomeClient {
  readonly #options: ClientOptions;
  readonly #timeoutMs: number;
  readonly #emitter = new Emitter<ClientEvents>();
  readonly #ws: ReconnectingWebSocket;
  readonly #pending = new Map<string, Pending>();
  readonly #entries = new Map<string, Entry>();
  readonly #idPrefix = `sdk-${Math.random().toString(36).slice(2, 10)}-`;
  #nextId = 1;
  #attempt = 0;
  #closed = false;
  #stableTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #sleep: { timer: ReturnType<typeof setTimeout>; resolve(): void } | undefined;
  readonly #pacer = new TokenBucket(PACE.rate, PACE.burst, Date.now());
  /** Frames of the current connection waiting for the pacer, in order. */
  #outbox: Pending[] = [];
  /** Requests sent on the current connection and not answered yet. */
  #inFlight = 0;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const fixedToken = typeof options.token === "string";
    this.#ws = new ReconnectingWebSocket(() => this.#nextUrl(), undefined, {
      ...(options.WebSocket === undefined ? {} : { WebSocket: options.WebSocket }),
      // Backoff is ours (jittered, in #nextUrl): partysocket's own delay is zero.
      minReconnectionDelay: 0,
      maxReconnectionDelay: 0,
      connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      // Requests made while disconnected wait in #pending and are sent after the resubscriptions.
      maxEnqueuedMessages: 0,
      // A fixed token that was refused (or expired) would be refused again.
      shouldReconnectOnClose: (event) => !(fixedToken && event.code === 4401),
    });
    this.#ws.addEventListener("open", () => this.#onOpen());
    this.#ws.addEventListener("message", (event) => this.#onMessage(event.data));
    this.#ws.addEventListener("close", (event) => this.#onClose(event.code, event.reason));
  }

  /** Whether the socket is open now. */
  get connected(): boolean {
    return this.#ws.readyState === OPEN;
  }

  /** Listens to a channel event (of every subscription) or a connection event; returns the remover. */
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  /**
   * Subscribes to a channel (and key). Resolves once the server confirmed it; rejects with an
   * {@link EquihomeError} (`invalid_subscription`, `authorization_error`, `timeout`, …). The
   * subscription is kept across reconnects: the client resubscribes with `since_seq`.
   */
  subscribe<C extends ChannelName>(params: SubscribeParams<C>): Promise<Subscription<C>> {
    const data = { ...(params as Record<string, unknown>) };
    const channel = data.channel as C;
    const entry = this.#acquire(channel, data);
    return this.#whenConfirmed(entry).then(
      () => this.#handle(entry) as Subscription<C>,
      async (error: unknown) => {
        await this.#release(entry).catch(() => {}); // this call's hold; a refused entry is gone already
        throw error;
      },
    );
  }

  /**
   * Opens an editing session of a fund or portfolio: subscribes to its channel (so its events
   * carry on from a known seq), then `start_editing`. Resolves with the document and its editors.
   * A resource this client already edits resolves with the same session.
   */
  async startEditing(resource: ResourceRef): Promise<EditingSession> {
    const channel = RESOURCE_CHANNELS[resource.resource_type] as ChannelName | undefined;
    if (channel === undefined) {
      throw new EquihomeError("resource_not_found", `No editable resources of type "${resource.resource_type}"`, {
        resource_type: resource.resource_type,
        types: Object.keys(RESOURCE_CHANNELS),
      });
    }
    const keyField = CHANNELS[channel].keyField;
    const entry = this.#acquire(channel, { channel, ...(keyField ? { [keyField]: resource.resource_id } : {}) });
    try {
      await this.#whenConfirmed(entry);
      const existing = entry.session;
      if (existing) {
        // Already edited (or being started) on this client: the same session, which holds the
        // channel already.
        await this.#bounded(existing.ready, "start_editing");
        entry.holders--;
        return existing;
      }
      const session = new Session(this, resource, entry);
      entry.session = session;
      this.#startSession(session);
      await this.#bounded(session.ready, "start_editing");
      return session;
    } catch (error) {
      if (entry.session?.started === false) entry.session = undefined;
      await this.#release(entry);
      throw error;
    }
  }

  /** Rejects with `timeout` if `promise` has not settled within the request timeout. */
  #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new EquihomeError("timeout", `No reply to ${what} within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** `ping`: resolves with the server's clock (ms since the epoch). */
  async ping(): Promise<number> {
    const reply = await this.request("ping", {}, ["pong"]);
    return typeof reply.data.timestamp === "number" ? reply.data.timestamp : Number.NaN;
  }

  /** Closes the socket for good: pending requests reject with `closed`, timers stop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    this.#ws.close(1000, "client closed");
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /**
   * Sends a request (now, or once connected) and resolves with its reply: the first frame with
   * its `id` whose event is one of `expect`. An `error` with its id rejects. @internal
   */
  request<E extends keyof FrameData>(
    event: string,
    data: Record<string, unknown>,
    expect: readonly E[],
  ): Promise<FrameOf<E>> {
    // A reply settles its request only when its event is one of `expect` (#onMessage).
    const settle = (resolve: (frame: FrameOf<E>) => void) => (frame: Frame) => resolve(frame as FrameOf<E>);
    return new Promise((resolve, reject) => this.#send(event, data, expect, settle(resolve), reject, false));
  }

  #send(
    event: string,
    data: Record<string, unknown>,
    expect: readonly string[],
    onReply: (frame: Frame) => void,
    onError: (error: EquihomeError) => void,
    internal: boolean,
  ): void {
    if (this.#closed) {
      onError(new EquihomeError("closed", "The client is closed"));
      return;
    }
    const id = `${this.#idPrefix}${this.#nextId++}`;
    const timer = setTimeout(() => {
      this.#settle(pending);
      onError(new EquihomeError("timeout", `No reply to ${event} within ${this.#timeoutMs} ms`, { event }));
    }, this.#timeoutMs);
    const pending: Pending = { id, event, data, expect, onReply, onError, timer, internal, queued: false, sent: false };
    this.#pending.set(id, pending);
    if (this.connected) this.#transmit(pending);
  }

  /** Queues a request on the current connection, sent as the pacer allows. */
  #transmit(pending: Pending): void {
    pending.queued = true;
    this.#outbox.push(pending);
    this.#drain();
  }

  /**
   * Sends what the outbox holds, within two bounds: the pacer (the server's rate) and
   * MAX_IN_FLIGHT unanswered requests. The server applies its rate limit when it handles a frame,
   * so frames that waited behind slow ones (a busy hub) are handled in a burst: the in-flight
   * bound keeps that burst well under the server's.
   */
  #drain(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    while (this.#outbox.length > 0 && this.connected && this.#inFlight < MAX_IN_FLIGHT) {
      const pending = this.#outbox[0];
      // One that timed out while it waited is not sent at all.
      if (!pending || this.#pending.get(pending.id) !== pending) {
        this.#outbox.shift();
        continue;
      }
      const now = Date.now();
      if (!this.#pacer.take(now)) {
        this.#drainTimer = setTimeout(() => this.#drain(), this.#pacer.delay(now));
        return;
      }
      this.#outbox.shift();
      pending.sent = this.#ws.send(JSON.stringify({ event: pending.event, data: pending.data, id: pending.id }));
      if (pending.sent) this.#inFlight++;
    }
  }

  /** Sends a request again after RATE_LIMITED_RETRY_MS (within its own timeout). */
  #retryLater(pending: Pending): void {
    if (pending.sent) {
      pending.sent = false;
      this.#inFlight--;
    }
    pending.queued = false;
    setTimeout(() => {
      if (this.#pending.get(pending.id) === pending && !pending.queued && this.connected) this.#transmit(pending);
    }, RATE_LIMITED_RETRY_MS);
  }

  /** Forgets a request that got its answer (or never will); frees its in-flight slot. */
  #settle(pending: Pending): void {
    if (this.#pending.get(pending.id) !== pending) return;
    this.#pending.delete(pending.id);
    clearTimeout(pending.timer);
    if (pending.sent) {
      this.#inFlight--;
      if (this.#outbox.length > 0) this.#drain();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions

  #acquire(channel: ChannelName, params: Record<string, unknown>): Entry {
    const key = keyOf(channel, params);
    const name = entryName(channel, key);
    let entry = this.#entries.get(name);
    if (entry) {
      entry.holders++;
      if (JSON.stringify(entry.params) !== JSON.stringify(params)) {
        // Subscribing again with other zones replaces the subscription's zones (on the server
        // too); the call resolves once the server confirmed the new ones.
        if (entry.confirmed) entry.previous ??= entry.params;
        entry.params = params;
        if (this.connected) this.#sendSubscribe(entry);
      }
      return entry;
    }
    entry = {
      channel,
      key,
      name,
      params,
      tracker: new SeqTracker(),
      holders: 1,
      confirmed: false,
      previous: undefined,
      waiters: [],
      emitter: new Emitter(),
      session: undefined,
    };
    this.#entries.set(name, entry);
    if (this.connected) this.#sendSubscribe(entry);
    return entry;
  }

  #whenConfirmed(entry: Entry): Promise<void> {
    if (entry.confirmed && entry.previous === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: EquihomeError) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      // Bounded even across reconnects (the request itself is resent on each connection).
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters.filter((other) => other !== waiter);
        reject(new EquihomeError("timeout", `No reply to subscribe within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      entry.waiters.push(waiter);
    });
  }

  #sendSubscribe(entry: Entry): void {
    if (!this.connected || this.#entries.get(entry.name) !== entry) return; // sent when the socket opens
    const data = { ...entry.params };
    if (entry.tracker.last !== null) data.since_seq = entry.tracker.last;
    this.#send(
      "subscribe",
      data,
      ["subscribed"],
      (frame) => {
        if (frame.event === "subscribed") this.#onSubscribed(entry, frame.data);
      },
      (error) => this.#onSubscribeFailed(entry, error),
      true,
    );
  }

  #onSubscribed(entry: Entry, data: ReplyData<"subscribed">): void {
    if (this.#entries.get(entry.name) !== entry) return;
    const seq = typeof data.seq === "number" ? data.seq : 0;
    const recovered = typeof data.recovered === "boolean" ? data.recovered : undefined;
    const { reload } = entry.tracker.subscribed(seq, recovered);
    entry.confirmed = true;
    entry.previous = undefined;
    for (const waiter of entry.waiters.splice(0)) waiter.resolve();
    if (reload) this.#reload(entry, seq);
  }

  #onSubscribeFailed(entry: Entry, error: EquihomeError): void {
    if (this.#entries.get(entry.name) !== entry) return;
    // Lost with the connection: the entry is resubscribed when the socket opens again.
    if (error.code === "connection_lost") return;
    if (error.code === "timeout" && entry.confirmed) {
      // A resubscription that got no answer: start over on a fresh connection.
      this.#ws.reconnect(4000, "subscribe timed out");
      return;
    }
    if (entry.previous !== undefined && error.code !== "timeout") {
      // New parameters refused: the server kept the subscription as it was.
      entry.params = entry.previous;
      entry.previous = undefined;
      for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
      return;
    }
    this.#entries.delete(entry.name);
    for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    if (entry.confirmed) this.#ended(entry, error.code);
  }

  #reload(entry: Entry, seq: number): void {
    const info: ReloadInfo = { channel: entry.channel, key: entry.key, seq };
    entry.emitter.emit("reload", info);
    this.#emitter.emit("reload", info);
    // An editing session reads the document again; the events after it carry on from seq.
    if (entry.session?.started) this.#startSession(entry.session);
  }

  #ended(entry: Entry, reason: string): void {
    const info: EndedInfo = { channel: entry.channel, key: entry.key, reason };
    entry.emitter.emit("unsubscribed", info);
    this.#emitter.emit("unsubscribed", info);
    entry.session?.end(info);
  }

  /** Drops one holder of an entry; the last one leaves the channel. */
  async #release(entry: Entry): Promise<void> {
    entry.holders--;
    if (entry.holders > 0 || this.#entries.get(entry.name) !== entry) return;
    this.#entries.delete(entry.name);
    for (const waiter of entry.waiters.splice(0)) waiter.reject(new EquihomeError("closed", "Unsubscribed"));
    if (!this.connected) return; // the server forgets a closed socket's subscriptions
    try {
      await this.request("unsubscribe", entry.params, ["unsubscribed"]);
    } catch (error) {
      if (error instanceof EquihomeError && error.code === "connection_lost") return;
      throw error;
    }
  }

  #handle(entry: Entry): Subscription<ChannelName> {
    let released = false;
    // Several handles can share one entry: each removes its own listeners when it leaves.
    const removers = new Set<() => void>();
    return {
      channel: entry.channel,
      key: entry.key,
      get lastSeq() {
        return entry.tracker.last;
      },
      on: (event, listener) => {
        if (released) return () => {};
        const off = entry.emitter.on(event, listener);
        removers.add(off);
        return () => {
          removers.delete(off);
          off();
        };
      },
      unsubscribe: async () => {
        if (released) return;
        released = true;
        for (const off of removers) off();
        removers.clear();
        await this.#release(entry);
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Editing

  #startSession(session: Session): void {
    if (!this.connected) return; // sent when the socket opens
    this.#send(
      "start_editing",
      { resource_type: session.resource_type, resource_id: session.resource_id },
      ["editing_started"],
      (frame) => {
        if (frame.event === "editing_started") session.onStarted(frame.data);
      },
      (error) => {
        if (error.code === "connection_lost") return; // started again on the next connection
        session.failed(error);
        if (session.started) this.#emitter.emit("error", error);
      },
      true,
    );
  }

  /** @internal */
  async endSession(session: Session, entry: Entry): Promise<void> {
    if (entry.session === session) entry.session = undefined;
    try {
      if (this.connected) {
        await this.request("end_editing", { resource_type: session.resource_type, resource_id: session.resource_id }, [
          "editing_ended",
        ]);
      }
    } finally {
      await this.#release(entry);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The socket

  async #nextUrl(): Promise<string> {
    const delay = backoffDelay(this.#attempt++, this.#options.backoff);
    if (delay > 0) await this.#wait(delay);
    let token: string;
    try {
      token = await this.#token();
    } catch (cause) {
      const error = new EquihomeError(
        "authentication_error",
        `The token provider failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        { reason: "token_provider_failed" },
      );
      this.#emitter.emit("error", error);
      throw error;
    }
    this.#scheduleRefresh(token);
    const url = new URL(this.#options.url);
    url.searchParams.set("token", token);
    return url.toString();
  }

  async #token(): Promise<string> {
    const source = this.#options.token;
    return typeof source === "string" ? source : await source();
  }

  /** A cancellable sleep: `close()` ends it at once (partysocket then does not connect). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleep = undefined;
        resolve();
      }, ms);
      this.#sleep = { timer, resolve };
    });
  }

  #onOpen(): void {
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#attempt = 0;
    }, STABLE_AFTER_MS);
    this.#pacer.reset(Date.now());
    // Subscriptions first (with since_seq), then editing sessions (their channel is held by
    // then: replies come in request order), then the requests made while disconnected.
    for (const entry of this.#entries.values()) this.#sendSubscribe(entry);
    for (const entry of this.#entries.values()) if (entry.session) this.#startSession(entry.session);
    for (const pending of [...this.#pending.values()]) if (!pending.queued) this.#transmit(pending);
    this.#emitter.emit("open");
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#drainTimer);
    this.#outbox = [];
    this.#inFlight = 0;
    const reconnecting = !this.#closed && this.#ws.shouldReconnect;
    // In-flight requests lost their socket. Subscriptions and sessions are made again on the
    // next connection; the requests that were never sent wait for it.
    for (const pending of [...this.#pending.values()]) {
      pending.queued = false;
      if (pending.sent || pending.internal || !reconnecting) {
        this.#pending.delete(pending.id);
        clearTimeout(pending.timer);
        pending.onError(
          reconnecting
            ? new EquihomeError("connection_lost", `The connection closed before the reply to ${pending.event}`, {
                event: pending.event,
              })
            : new EquihomeError("closed", "The client is closed"),
        );
      }
    }
    if (!reconnecting && !this.#closed) {
      this.#closed = true;
      this.#stop();
    }
    this.#emitter.emit("close", { code, reason, reconnecting });
  }

  #stop(): void {
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#drainTimer);
    this.#outbox = [];
    this.#inFlight = 0;
    clearTimeout(this.#refreshTimer);
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.resolve();
    }
    const closed = new EquihomeError("closed", "The client is closed");
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.onError(closed);
    }
    this.#pending.clear();
    for (const entry of this.#entries.values()) {
      for (const waiter of entry.waiters.splice(0)) waiter.reject(closed);
      entry.session?.failed(closed);
    }
  }

  #scheduleRefresh(token: string): void {
    clearTimeout(this.#refreshTimer);
    if (typeof this.#options.token === "string") return;
    const exp = tokenExpiry(token);
    if (exp === undefined) return;
    this.#refreshTimer = setTimeout(
      () => void this.#refresh(),
      refreshDelay(exp, Date.now(), this.#options.refreshMarginMs),
    );
  }

  /** Sends the provider's next token on the open socket (`refresh_token`). */
  async #refresh(): Promise<void> {
    if (!this.connected || this.#closed) return; // the next connection fetches a token anyway
    try {
      const token = await this.#token();
      if (!this.connected) return; // closed meanwhile: the next connection uses a fresh token anyway
      const reply = await this.request("refresh_token", { token }, ["token_refreshed"]);
      this.#emitter.emit("token_refreshed", { expires_at: String(reply.data.expires_at) });
      this.#scheduleRefresh(token);
    } catch (cause) {
      const error =
        cause instanceof EquihomeError
          ? cause
          : new EquihomeError("authentication_error", `The token provider failed: ${String(cause)}`, {
              reason: "token_provider_failed",
            });
      if (error.code === "connection_lost" || error.code === "closed") return;
      this.#emitter.emit("error", error);
      clearTimeout(this.#refreshTimer);
      this.#refreshTimer = setTimeout(() => void this.#refresh(), REFRESH_RETRY_MS);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Frames

  #onMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let frame: Frame;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (!isObject(parsed) || typeof parsed.event !== "string") return;
      // Typed by the server's schemas, not checked against them (no validator in the bundle);
      // only a `data` that is not an object reads as an empty one.
      frame = { ...parsed, data: isObject(parsed.data) ? parsed.data : {} } as unknown as Frame;
    } catch {
      return;
    }
    // A channel event first (an edit's acknowledgement is one): the document is current when
    // the request that caused it resolves.
    if (typeof frame.seq === "number") this.#onChannelEvent(frame, frame.seq);
    if (frame.id !== undefined) {
      const pending = typeof frame.id === "string" ? this.#pending.get(frame.id) : undefined;
      if (pending && (frame.event === "error" || pending.expect.includes(frame.event))) {
        if (frame.event === "error" && isRateLimited(frame)) {
          // Dropped unread by the server's rate limit: sending it again is safe, whatever it is.
          this.#retryLater(pending);
          return;
        }
        this.#settle(pending);
        if (frame.event === "error") pending.onError(errorFrom(frame));
        else pending.onReply(frame);
        return;
      }
    }
    if (typeof frame.seq === "number") return;
    switch (frame.event) {
      case "subscribed": {
        // Unsolicited: the server resynced this socket (docs/PROTOCOL.md "No silent gap").
        const entry = this.#entryOf(frame.data);
        if (entry) this.#onSubscribed(entry, { ...frame.data, recovered: false });
        break;
      }
      case "unsubscribed": {
        const { data } = frame;
        const entry = this.#entryOf(data);
        if (entry) {
          this.#entries.delete(entry.name);
          this.#ended(entry, typeof data.reason === "string" ? data.reason : "unsubscribed");
        }
        break;
      }
      case "editors_updated": {
        const { data } = frame;
        const channel = RESOURCE_CHANNELS[data.resource_type] as ChannelName | undefined;
        const entry = channel && this.#entries.get(entryName(channel, String(data.resource_id)));
        if (entry?.session && Array.isArray(data.editors)) entry.session.setEditors(data.editors);
        break;
      }
      case "error":
        this.#emitter.emit("error", errorFrom(frame));
        break;
    }
  }

  #entryOf(data: Record<string, unknown>): Entry | undefined {
    if (typeof data.channel !== "string") return undefined;
    return this.#entries.get(entryName(data.channel, keyOf(data.channel, data)));
  }

  #onChannelEvent(frame: Frame, seq: number): void {
    const { data } = frame;
    let channel: ChannelName | undefined;
    let key: string | null = null;
    if (frame.event === "resource_updated") {
      channel = RESOURCE_CHANNELS[frame.data.resource_type] as ChannelName | undefined;
      key = String(frame.data.resource_id);
    } else {
      channel = EVENT_CHANNEL.get(frame.event);
      if (channel !== undefined) key = keyOf(channel, data);
    }
    if (channel === undefined) return;
    const entry = this.#entries.get(entryName(channel, key));
    if (!entry) return;
    const verdict = entry.tracker.accept(seq);
    if (verdict === "gap") {
      this.#sendSubscribe(entry);
      return;
    }
    if (verdict !== "deliver") return;
    const meta: EventMeta = { channel, key, seq, ...(frame.id === undefined ? {} : { id: frame.id }) };
    const event = frame.event as ChannelEventName;
    if (frame.event === "resource_updated") entry.session?.apply(frame.data, meta);
    (entry.emitter as Emitter<Record<string, unknown[]>>).emit(event, data, meta);
    (this.#emitter as unknown as Emitter<Record<string, unknown[]>>).emit(event, data, meta);
  }
}

/** One editing session (see {@link EditingSession}). */
class Session implements EditingSession {
  readonly resource_type: ResourceRef["resource_type"];
  readonly resource_id: string;
  document: JsonObject = {};
  editors: Editor[] = [];
  started = false;
  readonly ready: Promise<void>;
  readonly #client: EquihomeClient;
  /** @internal The subscription entry of the resource's channel. */
  readonly entry: Entry;
  readonly #emitter = new Emitter<EditingEvents>();
  #settle: { resolve(): void; reject(error: EquihomeError): void } | undefined;
  #stopped = false;

  constructor(client: EquihomeClient, resource: ResourceRef, entry: Entry) {
    this.#client = client;
    this.entry = entry;
    this.resource_type = resource.resource_type;
    this.resource_id = resource.resource_id;
    this.ready = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Observed by startEditing; a rejection nobody awaits must not be reported as unhandled.
    this.ready.catch(() => {});
  }

  on<E extends keyof EditingEvents>(event: E, listener: (...args: EditingEvents[E]) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  async set(path: string, value: unknown): Promise<{ seq: number }> {
    if (this.#stopped) throw new EquihomeError("closed", "The editing session was stopped");
    const reply = await this.#client.request(
      "update_resource",
      { resource_type: this.resource_type, resource_id: this.resource_id, path, value },
      ["resource_updated"],
    );
    return { seq: typeof reply.seq === "number" ? reply.seq : Number.NaN };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#client.endSession(this, this.entry);
  }

  /** @internal `editing_started`: a fresh document (first start, or after a reconnect or reload). */
  onStarted(data: ReplyData<"editing_started">): void {
    this.document = isObject(data.document) ? data.document : {};
    this.editors = Array.isArray(data.editors) ? data.editors : [];
    if (this.started) {
      this.#emitter.emit("reload", this.document);
      this.#emitter.emit("editors", this.editors);
      return;
    }
    this.started = true;
    this.#settle?.resolve();
  }

  /** @internal */
  failed(error: EquihomeError): void {
    if (!this.started) this.#settle?.reject(error);
  }

  /** @internal */
  apply(data: ChannelEvents["resource_updated"], meta: EventMeta): void {
    if (!this.started) return; // the coming editing_started carries it
    applyUpdate(this.document, data.path, data.value, data.deleted === true);
    this.#emitter.emit("change", data, meta);
  }

  /** @internal */
  setEditors(editors: Editor[]): void {
    this.editors = editors;
    this.#emitter.emit("editors", editors);
  }

  /** @internal */
  end(info: EndedInfo): void {
    this.#stopped = true;
    if (this.entry.session === this) this.entry.session = undefined;
    this.#emitter.emit("ended", info);
  }
}

/** Connects to `/v1/ws`; see {@link EquihomeClient}. */
export function createClient(options: ClientOptions): EquihomeClient {
  return new EquihomeClient(options);
}
