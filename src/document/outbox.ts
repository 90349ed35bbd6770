/**
 * The document's outbox to its topic: `resource_updated` events stored with the update that made
 * them, handed to the topic oldest first, one row per topic call, one run at a time. A row is
 * deleted only once the topic has stored its events, so a row written before a crash or while
 * the topic was unreachable is published by the next run (the alarm retries, and any later edit
 * drains the older rows first): stored edits are never lost, and their events keep their order.
 *
 * A row the topic stored but that was not deleted (the object stopped in between, or the topic's
 * answer was lost) is published again. The topic answers it as a duplicate, with the original
 * seqs, because each event goes with a dedupe key of its own, {@link outboxKey}: an event
 * without a publisher id is deduplicated too, and none is stored or delivered twice (within the
 * topic's dedupe window, far longer than the alarm's retries). The key never goes on a wire.
 */
import * as v from "valibot";
import type { Env } from "../env";
import { type ResourceRef, resourceTopic } from "../protocol/equihome/editing";
import type { NewEvent } from "../protocol/topics";
import type { DocumentStore } from "./document-store";

/** A row's events as `appendUpdate` wrote them: checked when read back, never trusted as cast. */
const OutboxEventsSchema = v.array(
  v.object({
    event: v.string(),
    data: v.unknown(),
    id: v.optional(v.string()),
    ack: v.optional(v.object({ socket: v.string(), id: v.union([v.string(), v.number()]) })),
  }),
);

export class Outbox {
  #run: Promise<void> | null = null;
  /** Seqs of rows published by a run, kept only for the rows someone waits for (by row id). */
  #published = new Map<number, number[]>();
  #waiting = new Map<number, number>();

  constructor(
    private readonly store: DocumentStore,
    private readonly topics: Env["TOPIC"],
    private readonly resource: () => ResourceRef | null,
  ) {}

  pending(): boolean {
    return this.store.hasOutbox();
  }

  /**
   * Publishes the outbox up to the newest of these rows and returns the seqs of each of them
   * published by this call (a row published earlier is not in the map: its seqs are in the
   * edit records). `published` false when the topic could not be reached: the rows stay, and
   * the alarm retries.
   */
  async publish(ids: number[]): Promise<{ seqs: Map<number, number[]>; published: boolean }> {
    const seqs = new Map<number, number[]>();
    if (ids.length === 0) return { seqs, published: true };
    for (const id of ids) this.#wait(id, 1);
    try {
      await this.#publishUpTo(Math.max(...ids));
      return { seqs, published: true };
    } catch (error) {
      console.warn("document outbox: topic unavailable, the alarm retries", error);
      return { seqs, published: false };
    } finally {
      for (const id of ids) {
        const done = this.#published.get(id);
        if (done) seqs.set(id, done);
        this.#wait(id, -1);
      }
    }
  }

  /** Publishes every row (after an update, and from the alarm); failures wait for the alarm. */
  async flush(): Promise<void> {
    try {
      await this.#publishUpTo(Number.POSITIVE_INFINITY);
    } catch (error) {
      console.warn("document outbox: topic unavailable, the alarm retries", error);
    }
  }

  /** Runs the outbox until the row `upTo` is published (or none older is left). */
  async #publishUpTo(upTo: number): Promise<void> {
    for (;;) {
      if (this.#published.has(upTo)) return;
      if (this.#run) {
        await this.#run;
        continue;
      }
      const pending = this.store.outbox();
      if (pending.length === 0 || (pending[0]?.id ?? 0) > upTo) return;
      this.#run = this.#drain(pending);
      try {
        await this.#run;
      } finally {
        this.#run = null;
      }
    }
  }

  async #drain(rows: { id: number; events: string }[]): Promise<void> {
    const resource = this.resource();
    // Rows are written only for a named document, so this is a bug; throwing stops a busy loop.
    if (resource === null) throw new Error("outbox rows of a document that has no name");
    const topic = resourceTopic(resource);
    const stub = this.topics.getByName(topic);
    for (const row of rows) {
      const events: NewEvent[] = v.parse(OutboxEventsSchema, JSON.parse(row.events)).map((event, index) => ({
        ...event,
        key: outboxKey(resource, row.id, index),
      }));
      const seqs = (await stub.publish(topic, events)).map((result) => result.seq);
      this.store.removeOutbox(row.id, seqs);
      if (this.#waiting.has(row.id)) this.#published.set(row.id, seqs);
    }
  }

  /** Counts who waits for a row, so its seqs are kept exactly as long as someone does. */
  #wait(id: number, delta: 1 | -1): void {
    const count = (this.#waiting.get(id) ?? 0) + delta;
    if (count > 0) {
      this.#waiting.set(id, count);
    } else {
      this.#waiting.delete(id);
      this.#published.delete(id);
    }
  }
}

/**
 * The topic's dedupe key of the event at `index` in the outbox row `rowId`: unique for the
 * document's lifetime, since the row ids are AUTOINCREMENT (never reused, even once the outbox
 * is empty), and the resource type and id name the document among those sharing a topic.
 */
export function outboxKey(resource: ResourceRef, rowId: number, index: number): string {
  return `outbox:${resource.resource_type}:${resource.resource_id}:${rowId}:${index}`;
}
