/**
 * A hub's subscription index: which of its sockets want which topic, the hub's registration at
 * each topic Durable Object (one per topic, however many local sockets want it), and in-order
 * delivery to each socket with no silent gap. Protocol-agnostic: each protocol formats events
 * itself.
 *
 * Per topic the hub knows the last seq the topic delivered to it (unknown after a wake until
 * the next delivery): a delivery that would skip past it is refused with a `gap` reply, so the
 * topic resends; one that repeats it is skipped. A hub already live on a topic answers a new
 * subscriber from what it holds, without asking the topic. Each socket's own position is
 * checked too: a socket never receives an event after a gap without being told to resync.
 */

import type { AttachResult } from "../protocol/topics";
import {
  type Delivery,
  type DeliveryReply,
  isStatefulChannel,
  parseTopicName,
  type TopicEvent,
} from "../protocol/topics";
import type { StoredSubscription } from "./hub-store";

/** Why a socket holds a topic: its own `subscribe`, an editing session of the resource, or both. */
export type SubscriptionReason = "explicit" | "editing";

/** A resync that reached a subscription still being confirmed: applied when it goes live. */
interface PendingResync {
  seq: number;
  latest: TopicEvent | null;
}

export interface LocalSubscription {
  topic: string;
  /** traffic_light_updates: the zones this socket receives, or null for all. */
  zones: string[] | null;
  /** The highest seq sent to the socket (-1: unknown after a wake); later ones follow it. */
  lastSeq: number;
  /** Events that arrived while the subscription was being confirmed, or null once live. */
  pending: TopicEvent[] | null;
  pendingResync?: PendingResync | null;
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
  /** Renews the hub's lease at the topic; a topic that forgot the hub re-attaches it at `lastSeq`. */
  renew(topic: string, lastSeq: number | null): Promise<{ known: boolean }>;
  /** Sends one event to one socket, formatted for its protocol. */
  emit(socket: S, subscription: LocalSubscription, event: TopicEvent): void;
  /**
   * Tells one socket that its stream of the topic resumes after `seq` and that events before it
   * were lost to it (the protocol's resync), then sends `latest`, the channel's state, if any.
   */
  resync(socket: S, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void;
  /** The index went from no topic to some: the hub plans its lease renewals. */
  holding(): void;
  /** The socket's subscriptions changed: the hub keeps them through hibernation. */
  persist(socket: S): void;
}

/** What the hub holds of one topic. */
interface HeldTopic<S> {
  sockets: Set<S>;
  /** The last seq the topic delivered to this hub; null when unknown (after a wake). */
  lastSeq: number | null;
  /** On a stateful channel, the event at `lastSeq` when the hub has it: a new subscriber's state. */
  latest: TopicEvent | null;
  stateful: boolean;
}

export type Subscribed = { result: AttachResult; subscription: LocalSubscription } | null;

export class SubscriptionIndex<S extends SubscriberSocket> {
  #topics = new Map<string, HeldTopic<S>>();
  /** Registration calls per topic, chained so an attach never overtakes an earlier detach. */
  #registrations = new Map<string, Promise<unknown>>();

  constructor(private readonly link: TopicLink<S>) {}

  /** Re-enters a socket's stored subscription after a wake; it is live at once. */
  restore(socket: S, row: StoredSubscription): void {
    const reasons = { explicit: row.explicit, editing: row.editing };
    // lastSeq -1: unknown after a wake; any event the topic sends is new to this instance.
    socket.subscriptions.set(row.topic, { topic: row.topic, zones: row.zones, lastSeq: -1, pending: null, reasons });
    this.#add(row.topic, socket);
  }

  get topicCount(): number {
    return this.#topics.size;
  }

  /**
   * Subscribes a socket (for `reason`, keeping any other reason it had) and registers the hub at
   * the topic, unless the hub is live on it already and can answer from what it holds. Returns
   * the answer and the subscription, still pending: the caller sends its confirmation and the
   * initial events, then calls {@link goLive}. Returns null when the socket left or
   * unsubscribed meanwhile.
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
    const held = this.#add(topic, socket);
    this.link.persist(socket);
    const local = this.#localAnswer(topic, held, sinceSeq);
    if (local) return { result: local, subscription };
    let result: AttachResult;
    try {
      result = await this.#serially(topic, () => this.link.attach(topic, sinceSeq));
    } catch (error) {
      if (socket.subscriptions.get(topic) === subscription) this.unsubscribe(socket, topic);
      throw error;
    }
    if (socket.subscriptions.get(topic) !== subscription) return null;
    // The topic has delivered up to `cursor` to this hub; a delivery may have overtaken the reply.
    // A cursor of -1 (the topic re-registered this hub at an unknown position) is no position.
    if (result.cursor >= 0 && (held.lastSeq === null || held.lastSeq < result.cursor)) {
      held.lastSeq = result.cursor;
      held.latest = null;
    }
    const state = sinceSeq === null ? result.events[0] : undefined;
    if (held.stateful && state?.seq === held.lastSeq) held.latest = state;
    return { result, subscription };
  }

  /**
   * What a subscriber gets when the hub is live on the topic: the seq the hub has reached and,
   * on a stateful channel, the event at it. Null when only the topic can answer (a replay, or
   * the hub does not know its position or the state).
   */
  #localAnswer(topic: string, held: HeldTopic<S>, sinceSeq: number | null): AttachResult | null {
    const seq = held.lastSeq;
    if (seq === null || seq < 0 || this.#registrations.has(topic)) return null;
    if (sinceSeq !== null) return sinceSeq === seq ? { seq, events: [], recovered: true, cursor: seq } : null;
    if (!held.stateful || seq === 0) return { seq, events: [], recovered: null, cursor: seq };
    return held.latest?.seq === seq ? { seq, events: [held.latest], recovered: null, cursor: seq } : null;
  }

  /**
   * Adds a reason to hold a topic: an existing subscription just gains it (and null is
   * returned), else the socket subscribes as {@link subscribe} does.
   */
  async hold(socket: S, topic: string, reason: SubscriptionReason): Promise<Subscribed> {
    const existing = socket.subscriptions.get(topic);
    if (!existing) return this.subscribe(socket, topic, null, null, reason);
    existing.reasons[reason] = true;
    this.link.persist(socket);
    return null;
  }

  /** Drops one reason to hold a topic; the subscription ends with its last reason. */
  release(socket: S, topic: string, reason: SubscriptionReason): void {
    const existing = socket.subscriptions.get(topic);
    if (!existing) return;
    existing.reasons[reason] = false;
    if (existing.reasons.explicit || existing.reasons.editing) this.link.persist(socket);
    else this.unsubscribe(socket, topic);
  }

  /** Marks the initial events sent up to `seq` and flushes what arrived meanwhile, in order. */
  goLive(socket: S, subscription: LocalSubscription, seq: number): void {
    const pending = subscription.pending ?? [];
    const resync = subscription.pendingResync;
    subscription.pending = null;
    subscription.pendingResync = null;
    subscription.lastSeq = Math.max(subscription.lastSeq, seq);
    if (resync && resync.seq > subscription.lastSeq) this.#resync(socket, subscription, resync.seq, resync.latest);
    this.#send(socket, subscription, pending);
  }

  /** Removes one subscription whatever its reasons; the last local subscriber detaches the hub. */
  unsubscribe(socket: S, topic: string): boolean {
    if (!socket.subscriptions.delete(topic)) return false;
    this.link.persist(socket);
    this.#leave(socket, topic);
    return true;
  }

  /** Takes a socket out of a topic's set; the last one out detaches the hub. */
  #leave(socket: S, topic: string): void {
    const held = this.#topics.get(topic);
    held?.sockets.delete(socket);
    if (held && held.sockets.size === 0) {
      this.#topics.delete(topic);
      void this.#serially(topic, async () => {
        // A socket may have subscribed again while earlier calls ran: then stay registered.
        if (!this.#topics.has(topic)) await this.link.detach(topic);
      }).catch((error) => console.warn(`detach from ${topic} failed; the topic drops us on its next delivery`, error));
    }
  }

  /** Removes every subscription of a closed socket (the hub forgets what it stored for it). */
  removeSocket(socket: S): void {
    for (const topic of socket.subscriptions.keys()) this.#leave(socket, topic);
    socket.subscriptions.clear();
  }

  /**
   * A delivery from a topic. Answers `detach` when no local socket wants the topic any more
   * (the topic forgets this hub), and `gap` when it does not follow what this hub has.
   */
  deliver(topic: string, delivery: Delivery): DeliveryReply {
    const held = this.#topics.get(topic);
    if (!held || held.sockets.size === 0) return { status: "detach" };
    if (held.lastSeq !== null && delivery.after > held.lastSeq) return { status: "gap", have: held.lastSeq };
    if (delivery.kind === "resync") {
      if (held.lastSeq !== null && delivery.seq <= held.lastSeq) return { status: "ok" }; // nothing lost here
      held.lastSeq = delivery.seq;
      held.latest = held.stateful ? delivery.latest : null;
      for (const socket of held.sockets) {
        const subscription = socket.subscriptions.get(topic);
        if (!subscription) continue;
        if (subscription.pending === null) {
          // A socket that already has the stream up to there (a newer subscriber) lost nothing.
          if (subscription.lastSeq < delivery.seq) this.#resync(socket, subscription, delivery.seq, delivery.latest);
        } else {
          subscription.pending = [];
          subscription.pendingResync = { seq: delivery.seq, latest: delivery.latest };
        }
      }
      return { status: "ok" };
    }
    const last = delivery.events.at(-1);
    if (!last || (held.lastSeq !== null && last.seq <= held.lastSeq)) return { status: "ok" }; // a repeat
    held.lastSeq = last.seq;
    held.latest = held.stateful ? last : null;
    for (const socket of held.sockets) {
      const subscription = socket.subscriptions.get(topic);
      if (!subscription) continue;
      if (subscription.pending !== null) subscription.pending.push(...delivery.events);
      else this.#send(socket, subscription, delivery.events);
    }
    return { status: "ok" };
  }

  /**
   * Renews the hub's registration at every topic it holds. A topic that no longer knows the hub
   * registers it again at the seq the hub reached, and resends what the hub missed.
   */
  async renewAll(): Promise<void> {
    await Promise.all(
      [...this.#topics].map(([topic, held]) =>
        this.#serially(topic, () => this.link.renew(topic, held.lastSeq)).catch((error) =>
          console.warn(`lease renewal at ${topic} failed; the next one retries`, error),
        ),
      ),
    );
  }

  #send(socket: S, subscription: LocalSubscription, events: TopicEvent[]): void {
    for (const event of events) {
      if (event.seq <= subscription.lastSeq) continue; // already sent (initial state or replay)
      if (subscription.lastSeq >= 0 && event.seq > subscription.lastSeq + 1) {
        // Never an event after a gap without the resync before it.
        console.warn(`${subscription.topic}: gap ${subscription.lastSeq} → ${event.seq} for a socket; resyncing it`);
        this.#resync(socket, subscription, event.seq - 1, null);
      }
      subscription.lastSeq = event.seq;
      this.link.emit(socket, subscription, event);
    }
  }

  #resync(socket: S, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void {
    subscription.lastSeq = seq;
    this.link.resync(socket, subscription, seq, latest);
  }

  #add(topic: string, socket: S): HeldTopic<S> {
    let held = this.#topics.get(topic);
    if (!held) {
      const stateful = isStatefulChannel(parseTopicName(topic).channel);
      held = { sockets: new Set(), lastSeq: null, latest: null, stateful };
      this.#topics.set(topic, held);
      if (this.#topics.size === 1) this.link.holding();
    }
    held.sockets.add(socket);
    return held;
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
