/**
 * The Topic Durable Object: the single writer of one channel and key. It assigns `seq`, stores
 * every event before acknowledging it, and pushes events to the hubs that have subscribers, in
 * order, one delivery loop per hub.
 *
 * A hub's registration is a lease (HUB_LEASE_MS) that every accepted delivery and the hub's own
 * renewals extend; a failing hub is retried with backoff and forgotten only when its lease has
 * run out, and it re-attaches itself when it renews. Each delivery says which seq it follows, so
 * the hub can refuse one that would skip events. When the history no longer holds what a hub
 * needs (it fell further behind than the lag bounds, or re-attached too late) the hub gets a
 * resync instead, which its sockets see as `subscribed` with `recovered: false`: never a silent
 * gap. How far each hub has got is recorded lazily, inside the next publish's transaction or
 * by the alarm DELIVERY_FLUSH_MS after a delivery; a restart in between re-sends a few events,
 * which the hub recognises by seq.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { hubNamespace } from "../hub/shard";
import {
  DELIVERY_BATCH,
  DELIVERY_FLUSH_MS,
  DELIVERY_RETRY_MAX_MS,
  DELIVERY_RETRY_MS,
  HUB_LEASE_MS,
} from "../protocol/limits";
import {
  type AttachResult,
  type Delivery,
  type DeliveryReply,
  isStatefulChannel,
  type NewEvent,
  type PublishResult,
  parseTopicName,
  type TopicEvent,
} from "../protocol/topics";
import { type HubRecord, TopicStore } from "./topic-store";

/** A hub's registration in memory: its stored record plus when to retry a failed delivery. */
interface HubState extends HubRecord {
  retryAt: number;
  /** Counts the hub's attaches and renewals: a delivery's reply is read against it. */
  claims: number;
}

export class TopicDurableObject extends DurableObject<Env> {
  #store: TopicStore;
  #hubs: Map<string, HubState>;
  /** Hubs whose delivery loop is running. */
  #pumping = new Set<string>();
  /** Hubs whose record changed since it was last stored. */
  #dirty = new Set<string>();
  /** When the alarm is set for, as far as this instance knows. */
  #alarmAt: number | null = null;
  /** The commit of the last publish round, while it is under way. */
  #committing: Promise<void> | null = null;
  /** Publishes waiting for that commit, to be stored together next. */
  #waiting: { events: NewEvent[]; resolve: (results: PublishResult[]) => void; reject: (error: unknown) => void }[] =
    [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new TopicStore(ctx.storage);
    const now = Date.now();
    this.#hubs = new Map(
      [...this.#store.hubs(now)].map(([name, record]) => [name, { ...record, retryAt: 0, claims: 0 }]),
    );
  }

  /**
   * Stores the events, then returns their seqs; delivery follows. Publishes that arrive while
   * an earlier one's commit is under way wait for it and then share one transaction, so eight
   * publishers in flight cost one commit per round, not eight.
   */
  async publish(topic: string, events: NewEvent[]): Promise<PublishResult[]> {
    this.#store.rememberName(topic);
    if (this.#committing) {
      return new Promise((resolve, reject) => this.#waiting.push({ events, resolve, reject }));
    }
    const [results] = this.#append([events]);
    this.#committing = this.ctx.storage.sync().finally(() => this.#nextRound());
    return results ?? [];
  }

  /** The publishes that waited for the last commit, stored together. */
  #nextRound(): void {
    const round = this.#waiting.splice(0);
    if (round.length === 0) {
      this.#committing = null;
      return;
    }
    let results: PublishResult[][];
    try {
      results = this.#append(round.map((publish) => publish.events));
    } catch (error) {
      for (const publish of round) publish.reject(error);
      this.#committing = null;
      return;
    }
    // Each reply leaves only once the commit holding its events is durable (output gate).
    for (const [i, publish] of round.entries()) publish.resolve(results[i] ?? []);
    this.#committing = this.ctx.storage.sync().finally(() => this.#nextRound());
  }

  /** Appends the publishes' events in one transaction, with the hubs' positions; starts delivery. */
  #append(publishes: NewEvent[][]): PublishResult[][] {
    const counts = publishes.map((events) => events.length);
    const { results, appended } = this.#store.append(publishes.flat(), Date.now(), this.#oldestNeeded(), () =>
      this.#flush(),
    );
    if (appended.length > 0) this.#pumpAll();
    const split: PublishResult[][] = [];
    let at = 0;
    for (const count of counts) {
      split.push(results.slice(at, at + count));
      at += count;
    }
    return split;
  }

  /**
   * Registers a hub (idempotent) and returns what its new subscriber gets right after
   * `subscribed`: the replay after `sinceSeq` when every event since is still held, else the
   * latest state of a stateful channel.
   */
  async attach(topic: string, hub: string, sinceSeq: number | null): Promise<AttachResult> {
    this.#store.rememberName(topic);
    const record = this.#hubs.get(hub) ?? this.#register(hub, this.#store.seq);
    record.contactAt = Date.now();
    record.claims += 1;
    const seq = this.#store.seq;
    const cursor = record.delivered;
    if (sinceSeq !== null) {
      if (sinceSeq === seq) return { seq, events: [], recovered: true, cursor };
      const oldest = this.#store.oldestSeq();
      if (sinceSeq < seq && oldest !== null && oldest <= sinceSeq + 1) {
        return { seq, events: this.#store.eventsAfter(sinceSeq, seq - sinceSeq), recovered: true, cursor };
      }
    }
    const latest = this.#latestState();
    return { seq, events: latest ? [latest] : [], recovered: sinceSeq === null ? null : false, cursor };
  }

  /**
   * A hub renews its registration (from its alarm). A hub this topic no longer knows is
   * registered again at `lastSeq`, the last seq it delivered (null when it does not know, after
   * a restart), and the topic resends from there, or resyncs it when that is no longer held.
   */
  async renew(topic: string, hub: string, lastSeq: number | null): Promise<{ known: boolean }> {
    this.#store.rememberName(topic);
    const known = this.#hubs.get(hub);
    if (known) {
      known.contactAt = Date.now();
      known.claims += 1;
      // Recorded with the next publish (or alarm): the lease only matters once a delivery fails,
      // and a delivery follows a publish. No alarm of its own: a renewal must not wake a quiet
      // topic twice and write to storage.
      this.#dirty.add(hub);
      return { known: true };
    }
    const seq = this.#store.seq;
    const from = lastSeq === null ? (seq === 0 ? 0 : -1) : Math.min(lastSeq, seq);
    console.warn(`topic ${topic}: hub ${hub} re-attached at seq ${from} (topic at ${seq})`);
    this.#register(hub, from);
    this.#startPump(hub);
    // A loop for this hub may still be finishing an old delivery; the alarm makes sure the
    // replay (or resync) goes out even if no event is published for a while.
    this.#alarmBy(Date.now() + DELIVERY_FLUSH_MS);
    return { known: false };
  }

  /** Removes a hub that has no subscriber left. */
  async detach(topic: string, hub: string): Promise<void> {
    this.#store.rememberName(topic);
    this.#forget(hub);
  }

  /** Test and operations aid: the topic's seq, its hubs and how far behind each is. */
  async describe(): Promise<{
    name: string | null;
    seq: number;
    oldestSeq: number | null;
    dedupeIds: number;
    dedupeKeys: number;
    hubs: Record<string, HubRecord & { lag: number }>;
  }> {
    const seq = this.#store.seq;
    const hubs = Object.fromEntries(
      [...this.#hubs].map(([name, { delivered, failures, contactAt }]) => [
        name,
        { delivered, failures, contactAt, lag: seq - delivered },
      ]),
    );
    return {
      name: this.#store.name,
      seq,
      oldestSeq: this.#store.oldestSeq(),
      dedupeIds: this.#store.dedupeCount(),
      dedupeKeys: this.#store.dedupeKeyCount(),
      hubs,
    };
  }

  /** Records the hubs' positions, resumes deliveries a restart interrupted, retries failed ones. */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    this.#store.pruneDedupe(now);
    this.#flush();
    await Promise.all([...this.#hubs].filter(([, record]) => record.retryAt <= now).map(([hub]) => this.#pump(hub)));
    this.#flush();
    let next = Number.POSITIVE_INFINITY;
    for (const record of this.#hubs.values()) {
      if (record.delivered < this.#store.seq) next = Math.min(next, Math.max(record.retryAt, now + DELIVERY_RETRY_MS));
    }
    this.#alarmBy(next);
  }

  #register(hub: string, delivered: number): HubState {
    const record: HubState = { delivered, failures: 0, contactAt: Date.now(), retryAt: 0, claims: 0 };
    this.#hubs.set(hub, record);
    // Stored at once: the hub relies on this registration from the moment it is answered.
    this.#store.putHub(hub, record);
    this.#dirty.delete(hub);
    return record;
  }

  #forget(hub: string): void {
    this.#hubs.delete(hub);
    this.#dirty.delete(hub);
    this.#store.deleteHub(hub);
  }

  /** Stores the records of hubs whose position or failures changed. */
  #flush(): void {
    for (const hub of this.#dirty) {
      const record = this.#hubs.get(hub);
      if (record) this.#store.putHub(hub, record);
    }
    this.#dirty.clear();
  }

  /** The lowest seq a registered hub still needs (the history is kept from there). */
  #oldestNeeded(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const record of this.#hubs.values()) oldest = Math.min(oldest, record.delivered);
    return oldest;
  }

  #latestState(): TopicEvent | null {
    const name = this.#store.name;
    return name !== null && isStatefulChannel(parseTopicName(name).channel) ? this.#store.latest() : null;
  }

  #pumpAll(): void {
    if (this.#hubs.size === 0) return;
    // The alarm is the safety net: if this object restarts before the loops finish, it resumes
    // them; it also records the positions the loops reach.
    this.#alarmBy(Date.now() + DELIVERY_FLUSH_MS);
    const now = Date.now();
    for (const [hub, record] of this.#hubs) if (record.retryAt <= now) this.#startPump(hub);
  }

  /** What a hub gets next after `after`: the events that follow it, or a resync. */
  #nextDelivery(after: number): Delivery {
    if (after >= 0) {
      const events = this.#store.eventsAfter(after, DELIVERY_BATCH);
      if (events[0]?.seq === after + 1) return { kind: "events", after, events };
    }
    return { kind: "resync", after, seq: this.#store.seq, latest: this.#latestState() };
  }

  /**
   * Delivers to one hub everything after what it has acknowledged, in order, in batches. One
   * loop per hub at a time: a publish during a delivery is picked up by the running loop.
   */
  /**
   * Starts the hub's delivery loop in the background (it outlives the call that starts it). It
   * handles a failed delivery itself; anything else it throws is logged, and the alarm retries.
   */
  #startPump(hub: string): void {
    this.#pump(hub).catch((error: unknown) => {
      console.error(`delivery to ${hub} stopped; the alarm retries`, error);
      this.#alarmBy(Date.now() + DELIVERY_RETRY_MS);
    });
  }

  async #pump(hub: string): Promise<void> {
    const topic = this.#store.name;
    if (this.#pumping.has(hub) || topic === null) return;
    this.#pumping.add(hub);
    try {
      for (;;) {
        const record = this.#hubs.get(hub);
        if (!record || record.delivered >= this.#store.seq) return;
        const delivery = this.#nextDelivery(record.delivered);
        const claimsBefore = record.claims;
        let reply: DeliveryReply;
        try {
          reply = await hubNamespace(this.env, hub).getByName(hub).deliver(topic, delivery);
        } catch (error) {
          if (this.#hubs.get(hub) === record) this.#failed(topic, hub, record, error);
          return;
        }
        if (this.#hubs.get(hub) !== record) continue; // detached or replaced: deliver to what is there now
        const attachedMeanwhile = record.claims !== claimsBefore;
        record.contactAt = Date.now();
        record.failures = 0;
        record.retryAt = 0;
        this.#dirty.add(hub);
        if (reply.status === "detach") {
          // Unless the hub attached (or renewed) while this delivery was under way: it has a
          // subscriber again, and the next delivery reaches it.
          if (!attachedMeanwhile) {
            this.#forget(hub);
            return;
          }
          continue;
        }
        if (reply.status === "gap") {
          // The hub has less than we thought (its position here was ahead): resend from there.
          record.delivered = Math.min(reply.have, delivery.after - 1);
          continue;
        }
        record.delivered = delivery.kind === "events" ? (delivery.events.at(-1)?.seq ?? delivery.after) : delivery.seq;
      }
    } finally {
      this.#pumping.delete(hub);
    }
  }

  /** A failed delivery: retried with backoff while the hub's lease lasts, then forgotten. */
  #failed(topic: string, hub: string, record: HubState, error: unknown): void {
    const now = Date.now();
    record.failures += 1;
    if (now - record.contactAt >= HUB_LEASE_MS) {
      console.warn(`topic ${topic}: forgetting hub ${hub}, unreachable for ${now - record.contactAt} ms`, error);
      this.#forget(hub);
      return;
    }
    const backoff = Math.min(DELIVERY_RETRY_MS * 2 ** Math.min(record.failures - 1, 16), DELIVERY_RETRY_MAX_MS);
    record.retryAt = now + backoff;
    this.#dirty.add(hub);
    this.#alarmBy(record.retryAt);
  }

  /** Sets the alarm for `at` unless it is already due no later. */
  #alarmBy(at: number): void {
    if (at === Number.POSITIVE_INFINITY) return;
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    // Not awaited, so publishing stays synchronous here: the output gate holds replies until the
    // write lands. A failed write is not assumed to have happened, so the next plan writes again.
    this.ctx.storage.setAlarm(at).catch((error: unknown) => {
      if (this.#alarmAt === at) this.#alarmAt = null;
      console.error("setting the topic's alarm failed; the next plan retries", error);
    });
  }
}
