/**
 * A hub's subscription index: which of its sockets want which topic, the hub's registration at
 * each topic Durable Object (one per topic, however many local sockets want it), and in-order,
 * gap-free delivery to each socket. Protocol-agnostic: each protocol formats events itself.
 */
import type { TopicEvent } from "../protocol/topics";
import type { AttachResult } from "../topic/topic-durable-object";
import type { HubStore, StoredSubscription } from "./hub-store";

/** Why a socket holds a topic: its own `subscribe`, an editing session of the resource, or both. */
export type SubscriptionReason = "explicit" | "editing";

export interface LocalSubscription {
  topic: string;
  /** traffic_light_updates: the zones this socket receives, or null for all. */
  zones: string[] | null;
  /** The highest seq sent to the socket; later deliveries skip anything at or below it. */
  lastSeq: number;
  /** Events that arrived while the subscription was being confirmed, or null once live. */
  pending: TopicEvent[] | null;
  reasons: Record<SubscriptionReason, boolean>;
}

export interface SubscriberSocket {
  /** Stable id of the socket (its attachment id), the key of its stored rows. */
  id: string;
  subscriptions: Map<string, LocalSubscription>;
}

/** What the index needs from its hub. */
export interface TopicLink<S extends SubscriberSocket> {
  attach(topic: string, sinceSeq: number | null): Promise<AttachResult>;
  detach(topic: string): Promise<void>;
  /** Sends one event to one socket, formatted for its protocol. */
  emit(socket: S, subscription: LocalSubscription, event: TopicEvent): void;
}

export type Subscribed = { result: AttachResult; subscription: LocalSubscription } | null;

export class SubscriptionIndex<S extends SubscriberSocket> {
  #byTopic = new Map<string, Set<S>>();
  /** Registration calls per topic, chained so an attach never overtakes an earlier detach. */
  #registrations = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: HubStore,
    private readonly link: TopicLink<S>,
  ) {}

  /** Re-enters a socket's stored subscription after a wake; it is live at once. */
  restore(socket: S, row: StoredSubscription): void {
    const reasons = { explicit: row.explicit, editing: row.editing };
    // lastSeq -1: unknown after a wake; any event the topic sends is new to this instance.
    socket.subscriptions.set(row.topic, { topic: row.topic, zones: row.zones, lastSeq: -1, pending: null, reasons });
    this.#add(row.topic, socket);
  }

  subscriberCount(topic: string): number {
    return this.#byTopic.get(topic)?.size ?? 0;
  }

  get topicCount(): number {
    return this.#byTopic.size;
  }

  /**
   * Subscribes a socket (for `reason`, keeping any other reason it had) and registers the hub at
   * the topic. Returns the topic's answer and the subscription, still pending: the caller sends
   * its confirmation and the initial events, then calls {@link goLive}. Returns null when the
   * socket left or unsubscribed meanwhile.
   */
  async subscribe(
    socket: S,
    topic: string,
    zones: string[] | null,
    sinceSeq: number | null,
    reason: SubscriptionReason = "explicit",
  ): Promise<Subscribed> {
    const previous = socket.subscriptions.get(topic)?.reasons;
    const reasons = { explicit: previous?.explicit ?? false, editing: previous?.editing ?? false };
    reasons[reason] = true;
    const subscription: LocalSubscription = { topic, zones, lastSeq: 0, pending: [], reasons };
    socket.subscriptions.set(topic, subscription);
    this.#add(topic, socket);
    this.#persist(socket, subscription);
    let result: AttachResult;
    try {
      result = await this.#serially(topic, () => this.link.attach(topic, sinceSeq));
    } catch (error) {
      if (socket.subscriptions.get(topic) === subscription) this.unsubscribe(socket, topic);
      throw error;
    }
    if (socket.subscriptions.get(topic) !== subscription) return null;
    return { result, subscription };
  }

  /**
   * Adds a reason to hold a topic: an existing subscription just gains it (and null is
   * returned), else the socket subscribes as {@link subscribe} does.
   */
  async hold(socket: S, topic: string, reason: SubscriptionReason): Promise<Subscribed> {
    const existing = socket.subscriptions.get(topic);
    if (!existing) return this.subscribe(socket, topic, null, null, reason);
    existing.reasons[reason] = true;
    this.#persist(socket, existing);
    return null;
  }

  /** Drops one reason to hold a topic; the subscription ends with its last reason. */
  release(socket: S, topic: string, reason: SubscriptionReason): void {
    const existing = socket.subscriptions.get(topic);
    if (!existing) return;
    existing.reasons[reason] = false;
    if (existing.reasons.explicit || existing.reasons.editing) this.#persist(socket, existing);
    else this.unsubscribe(socket, topic);
  }

  /** Marks the initial events sent up to `seq` and flushes what arrived meanwhile, in order. */
  goLive(socket: S, subscription: LocalSubscription, seq: number): void {
    const pending = subscription.pending ?? [];
    subscription.pending = null;
    subscription.lastSeq = Math.max(subscription.lastSeq, seq);
    this.#send(socket, subscription, pending);
  }

  /** Removes one subscription whatever its reasons; the last local subscriber detaches the hub. */
  unsubscribe(socket: S, topic: string): boolean {
    if (!socket.subscriptions.delete(topic)) return false;
    this.store.deleteSubscription(socket.id, topic);
    const sockets = this.#byTopic.get(topic);
    sockets?.delete(socket);
    if (sockets && sockets.size === 0) {
      this.#byTopic.delete(topic);
      void this.#serially(topic, async () => {
        // A socket may have subscribed again while earlier calls ran: then stay registered.
        if (!this.#byTopic.has(topic)) await this.link.detach(topic);
      }).catch((error) => console.warn(`detach from ${topic} failed; the topic drops us on its next delivery`, error));
    }
    return true;
  }

  /** Removes every subscription of a closed socket. */
  removeSocket(socket: S): void {
    for (const topic of [...socket.subscriptions.keys()]) this.unsubscribe(socket, topic);
    this.store.deleteSocket(socket.id);
  }

  /**
   * Events from a topic, in seq order. Returns `detach: true` when no local socket wants the
   * topic any more, so the topic forgets this hub.
   */
  deliver(topic: string, events: TopicEvent[]): { detach: boolean } {
    const sockets = this.#byTopic.get(topic);
    if (!sockets || sockets.size === 0) return { detach: true };
    for (const socket of sockets) {
      const subscription = socket.subscriptions.get(topic);
      if (!subscription) continue;
      if (subscription.pending !== null) subscription.pending.push(...events);
      else this.#send(socket, subscription, events);
    }
    return { detach: false };
  }

  #persist(socket: S, { topic, zones, reasons }: LocalSubscription): void {
    this.store.putSubscription({ socketId: socket.id, topic, zones, ...reasons });
  }

  #send(socket: S, subscription: LocalSubscription, events: TopicEvent[]): void {
    for (const event of events) {
      if (event.seq <= subscription.lastSeq) continue; // already sent (initial state or replay)
      subscription.lastSeq = event.seq;
      this.link.emit(socket, subscription, event);
    }
  }

  #add(topic: string, socket: S): void {
    let sockets = this.#byTopic.get(topic);
    if (!sockets) {
      sockets = new Set();
      this.#byTopic.set(topic, sockets);
    }
    sockets.add(socket);
  }

  #serially<T>(topic: string, call: () => Promise<T>): Promise<T> {
    const previous = this.#registrations.get(topic) ?? Promise.resolve();
    const next = previous.then(call, call);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#registrations.set(topic, settled);
    void settled.then(() => {
      if (this.#registrations.get(topic) === settled) this.#registrations.delete(topic);
    });
    return next;
  }
}
