/**
 * The Topic Durable Object: the single writer of one channel and key. It assigns `seq`, stores
 * every event before acknowledging it, and pushes events to the hubs that have subscribers, in
 * order, one delivery loop per hub. How far each hub has been delivered is stored too, so
 * nothing acknowledged is left undelivered by a restart: an alarm resumes the loops.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { DELIVERY_BATCH, DELIVERY_RETRY_MS, MAX_DELIVERY_FAILURES } from "../protocol/limits";
import { isStatefulChannel, parseTopicName, type TopicEvent } from "../protocol/topics";
import { type HubRecord, type NewEvent, type PublishResult, TopicStore } from "./topic-store";

export interface AttachResult {
  /** The topic's latest seq when the hub was attached. */
  seq: number;
  /** The replay after `since_seq`, or the latest state, to send right after `subscribed`. */
  events: TopicEvent[];
  /** Whether `since_seq` could be honoured in full (null when none was asked). */
  recovered: boolean | null;
}

export class TopicDurableObject extends DurableObject<Env> {
  #store: TopicStore;
  #hubs: Map<string, HubRecord>;
  /** Hubs whose delivery loop is running. */
  #pumping = new Set<string>();
  #alarmArmed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new TopicStore(ctx.storage);
    this.#hubs = this.#store.hubs();
  }

  /** Stores the events (one transaction), then returns their seqs; delivery follows. */
  async publish(topic: string, events: NewEvent[]): Promise<PublishResult[]> {
    this.#store.rememberName(topic);
    const { results, appended } = this.#store.append(events, Date.now());
    if (appended.length > 0) this.#pumpAll();
    return results;
  }

  /**
   * Registers a hub (idempotent) and returns what its new subscriber gets right after
   * `subscribed`: the replay after `sinceSeq` when every event since is still held, else the
   * latest state of a stateful channel.
   */
  async attach(topic: string, hub: string, sinceSeq: number | null): Promise<AttachResult> {
    this.#store.rememberName(topic);
    if (!this.#hubs.has(hub)) {
      const record = { delivered: this.#store.seq, failures: 0 };
      this.#hubs.set(hub, record);
      this.#store.putHub(hub, record);
    }
    const seq = this.#store.seq;
    if (sinceSeq !== null) {
      if (sinceSeq === seq) return { seq, events: [], recovered: true };
      const oldest = this.#store.oldestSeq();
      if (sinceSeq < seq && oldest !== null && oldest <= sinceSeq + 1) {
        return { seq, events: this.#store.eventsAfter(sinceSeq, seq - sinceSeq), recovered: true };
      }
    }
    const latest = isStatefulChannel(parseTopicName(topic).channel) ? this.#store.latest() : null;
    return { seq, events: latest ? [latest] : [], recovered: sinceSeq === null ? null : false };
  }

  /** Removes a hub that has no subscriber left. */
  async detach(topic: string, hub: string): Promise<void> {
    this.#store.rememberName(topic);
    this.#hubs.delete(hub);
    this.#store.deleteHub(hub);
  }

  /** Test and operations aid: the topic's seq and registered hubs. */
  async describe(): Promise<{ name: string | null; seq: number; hubs: Record<string, HubRecord> }> {
    return { name: this.#store.name, seq: this.#store.seq, hubs: Object.fromEntries(this.#hubs) };
  }

  override async alarm(): Promise<void> {
    this.#alarmArmed = false;
    this.#store.pruneDedupe(Date.now());
    await Promise.all([...this.#hubs.keys()].map((hub) => this.#pump(hub)));
    if (this.#hasUndelivered()) this.#armAlarm();
  }

  #hasUndelivered(): boolean {
    for (const record of this.#hubs.values()) if (record.delivered < this.#store.seq) return true;
    return false;
  }

  #armAlarm(): void {
    if (this.#alarmArmed) return;
    this.#alarmArmed = true;
    void this.ctx.storage.setAlarm(Date.now() + DELIVERY_RETRY_MS);
  }

  #pumpAll(): void {
    // The alarm is the safety net: if this object restarts before the loops finish, it resumes them.
    if (this.#hubs.size > 0) this.#armAlarm();
    for (const hub of this.#hubs.keys()) void this.#pump(hub);
  }

  /**
   * Delivers to one hub everything after what it has acknowledged, in order, in batches. One
   * loop per hub at a time: a publish during a delivery is picked up by the running loop.
   */
  async #pump(hub: string): Promise<void> {
    if (this.#pumping.has(hub) || this.#store.name === null) return;
    const topic = this.#store.name;
    this.#pumping.add(hub);
    try {
      for (;;) {
        const record = this.#hubs.get(hub);
        if (!record || record.delivered >= this.#store.seq) return;
        const batch = this.#store.eventsAfter(record.delivered, DELIVERY_BATCH);
        const last = batch.at(-1);
        if (!last) {
          // History was pruned past what this hub had: nothing left to send.
          record.delivered = this.#store.seq;
          this.#store.putHub(hub, record);
          return;
        }
        let detach: boolean;
        try {
          ({ detach } = await this.env.HUB.getByName(hub).deliver(topic, batch));
        } catch (error) {
          record.failures += 1;
          if (record.failures >= MAX_DELIVERY_FAILURES) {
            console.warn(`topic ${topic}: dropping hub ${hub} after ${record.failures} failed deliveries`, error);
            this.#hubs.delete(hub);
            this.#store.deleteHub(hub);
          } else {
            this.#store.putHub(hub, record);
            this.#armAlarm();
          }
          return;
        }
        if (detach) {
          this.#hubs.delete(hub);
          this.#store.deleteHub(hub);
          return;
        }
        if (this.#hubs.get(hub) !== record) return; // detached while delivering
        record.delivered = last.seq;
        record.failures = 0;
        this.#store.putHub(hub, record);
      }
    } finally {
      this.#pumping.delete(hub);
    }
  }
}
