/**
 * A topic's durable state in its Durable Object's SQLite: the seq counter, the event history,
 * the dedupe window and the registry of hubs with how far each has been delivered.
 * Synchronous (SQLite in a Durable Object is), so a publish is one transaction.
 *
 * The history keeps the last TOPIC_HISTORY_LIMIT events for `since_seq`, and beyond that every
 * event a registered hub has not acknowledged yet, up to TOPIC_MAX_LAG_EVENTS and
 * TOPIC_MAX_LAG_BYTES: a hub further behind than that is resynced (topic-durable-object.ts).
 */
import * as v from "valibot";
import { DEDUPE_WINDOW_MS, TOPIC_HISTORY_LIMIT, TOPIC_MAX_LAG_BYTES, TOPIC_MAX_LAG_EVENTS } from "../protocol/limits";
import type { EventAck, NewEvent, PublishResult, TopicEvent } from "../protocol/topics";
import { addColumnIfMissing } from "../storage/sql";

export interface HubRecord {
  /** The last seq the hub acknowledged; -1 when unknown (the hub must be resynced). */
  delivered: number;
  /** Failed deliveries in a row. */
  failures: number;
  /** When the hub last accepted a delivery or renewed its registration (its lease). */
  contactAt: number;
}

/**
 * An event as the topic stores it: the neutral event, `data` as JSON text. `ack_id` has no type
 * so that SQLite keeps a message id's own type (a string, or an integer).
 */
const EVENTS_COLUMNS =
  "seq INTEGER PRIMARY KEY, event TEXT NOT NULL, data TEXT NOT NULL, id TEXT, ack_socket TEXT, ack_id";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (${EVENTS_COLUMNS});
CREATE TABLE IF NOT EXISTS dedupe (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedupe_at ON dedupe (at);
CREATE TABLE IF NOT EXISTS dedupe_keys (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedupe_keys_at ON dedupe_keys (at);
CREATE TABLE IF NOT EXISTS hubs (name TEXT PRIMARY KEY, delivered INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
`;

/**
 * The dedupe window's two namespaces: publishers' event ids, and the system's own keys (a
 * separate table, so no id a publisher chooses can ever match a key). Both are read by their
 * primary key. Created by SCHEMA: a topic stored before keys existed gains the empty table.
 */
const DEDUPE_BY_ID = {
  select: "SELECT seq FROM dedupe WHERE id = ? AND at > ?",
  insert: "INSERT OR REPLACE INTO dedupe (id, seq, at) VALUES (?, ?, ?)",
};
const DEDUPE_BY_KEY = {
  select: "SELECT seq FROM dedupe_keys WHERE key = ? AND at > ?",
  insert: "INSERT OR REPLACE INTO dedupe_keys (key, seq, at) VALUES (?, ?, ?)",
};

/** How often a publish also prunes the dedupe window (it is pruned as the topic publishes). */
const DEDUPE_PRUNE_EVERY_MS = 60_000;

export class TopicStore {
  #sql: SqlStorage;
  #storage: DurableObjectStorage;
  #seq: number;
  #name: string | null;
  #dedupePrunedAt = 0;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#sql.exec(SCHEMA);
    migrateFrames(storage);
    addColumnIfMissing(this.#sql, "hubs", "contact_at INTEGER NOT NULL DEFAULT 0");
    this.#seq = Number(this.#meta("seq") ?? 0);
    const name = this.#meta("name");
    this.#name = typeof name === "string" ? name : null;
  }

  get seq(): number {
    return this.#seq;
  }

  get name(): string | null {
    return this.#name;
  }

  /** Records the topic's name the first time it is told; a topic never changes name. */
  rememberName(name: string): void {
    if (this.#name === name) return;
    if (this.#name !== null) throw new Error(`topic ${this.#name} was addressed as ${name}`);
    this.#name = name;
    this.#setMeta("name", name);
  }

  /**
   * Assigns a seq to each new event and stores it with the history and dedupe rows, all in one
   * transaction. An event whose id (or, without one, whose key) was accepted within the dedupe
   * window gets its original seq. An event with neither costs no dedupe statement at all.
   * `oldestNeeded` is the lowest seq a registered hub has acknowledged: the history is not
   * pruned past it, within the lag bounds. `also` runs inside the same transaction (the topic
   * records its hubs' positions there, so they share the publish's commit).
   */
  append(
    events: NewEvent[],
    now: number,
    oldestNeeded: number,
    also?: () => void,
  ): { results: PublishResult[]; appended: TopicEvent[] } {
    return this.#storage.transactionSync(() => {
      const results: PublishResult[] = [];
      const appended: TopicEvent[] = [];
      const cutoff = now - DEDUPE_WINDOW_MS;
      for (const { event, data, id, key, ack } of events) {
        // The event's one dedupe row: by its public id, else by the system's key, else none.
        const dedupe = id !== undefined ? DEDUPE_BY_ID : key !== undefined ? DEDUPE_BY_KEY : null;
        const dedupeKey = id ?? key;
        if (dedupe !== null) {
          const seen = this.#sql.exec<{ seq: number }>(dedupe.select, dedupeKey, cutoff).toArray()[0];
          if (seen) {
            results.push({ seq: seen.seq, duplicate: true });
            continue;
          }
        }
        const seq = this.#seq + 1;
        const text = jsonText(data);
        this.#sql.exec(
          "INSERT INTO events (seq, event, data, id, ack_socket, ack_id) VALUES (?, ?, ?, ?, ?, ?)",
          seq,
          event,
          text,
          id ?? null,
          ack?.socket ?? null,
          ack?.id ?? null,
        );
        if (dedupe !== null) this.#sql.exec(dedupe.insert, dedupeKey, seq, now);
        this.#seq = seq;
        results.push({ seq, duplicate: false });
        appended.push(topicEvent(seq, event, text, id, ack));
      }
      if (appended.length > 0) {
        this.#setMeta("seq", this.#seq);
        this.#sql.exec("DELETE FROM events WHERE seq <= ?", this.#pruneTo(oldestNeeded));
      }
      if (now - this.#dedupePrunedAt >= DEDUPE_PRUNE_EVERY_MS) this.pruneDedupe(now);
      also?.();
      return { results, appended };
    });
  }

  /**
   * The seq up to which the history may go: everything older than the last
   * TOPIC_HISTORY_LIMIT events that no registered hub still needs, and past the lag bounds
   * even what a hub still needs.
   */
  #pruneTo(oldestNeeded: number): number {
    const floor = this.#seq - TOPIC_HISTORY_LIMIT;
    if (oldestNeeded >= floor) return floor;
    let cut = Math.max(oldestNeeded, this.#seq - TOPIC_MAX_LAG_EVENTS);
    if (cut < floor) {
      // The newest of the kept-for-lag events past which their size exceeds the byte bound.
      const over = this.#sql
        .exec<{ seq: number }>(
          `SELECT seq FROM (SELECT seq, SUM(length(data) + ${EVENT_OVERHEAD}) OVER (ORDER BY seq DESC) AS total
             FROM events WHERE seq > ? AND seq <= ?) WHERE total > ? ORDER BY seq DESC LIMIT 1`,
          cut,
          floor,
          TOPIC_MAX_LAG_BYTES,
        )
        .toArray()[0];
      if (over) cut = over.seq;
    }
    return cut;
  }

  /** Forgets event ids and keys older than the dedupe window. */
  pruneDedupe(now: number): void {
    this.#dedupePrunedAt = now;
    this.#sql.exec("DELETE FROM dedupe WHERE at <= ?", now - DEDUPE_WINDOW_MS);
    this.#sql.exec("DELETE FROM dedupe_keys WHERE at <= ?", now - DEDUPE_WINDOW_MS);
  }

  /** How many event ids the dedupe window holds (operations and tests). */
  dedupeCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dedupe").one().n;
  }

  /** How many event keys (see {@link NewEvent.key}) the dedupe window holds (operations and tests). */
  dedupeKeyCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dedupe_keys").one().n;
  }

  /** Events with seq greater than `afterSeq`, oldest first, at most `limit`. */
  eventsAfter(afterSeq: number, limit: number): TopicEvent[] {
    return this.#sql
      .exec<EventRow>(
        "SELECT seq, event, data, id, ack_socket, ack_id FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        afterSeq,
        limit,
      )
      .toArray()
      .map(fromRow);
  }

  /** The latest event, without its acknowledgement (that went out with the event itself). */
  latest(): TopicEvent | null {
    const row = this.#sql
      .exec<EventRow>(
        "SELECT seq, event, data, id, NULL AS ack_socket, NULL AS ack_id FROM events ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** The oldest seq still held, or null when the history is empty. */
  oldestSeq(): number | null {
    const row = this.#sql.exec<{ seq: number | null }>("SELECT MIN(seq) AS seq FROM events").toArray()[0];
    return row?.seq ?? null;
  }

  hubs(now: number): Map<string, HubRecord> {
    const hubs = new Map<string, HubRecord>();
    type Row = { name: string; delivered: number; failures: number; contact_at: number };
    for (const row of this.#sql.exec<Row>("SELECT name, delivered, failures, contact_at FROM hubs")) {
      // A record written before leases existed counts as in contact now.
      const contactAt = row.contact_at > 0 ? row.contact_at : now;
      hubs.set(row.name, { delivered: row.delivered, failures: row.failures, contactAt });
    }
    return hubs;
  }

  putHub(name: string, record: HubRecord): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO hubs (name, delivered, failures, contact_at) VALUES (?, ?, ?, ?)",
      name,
      record.delivered,
      record.failures,
      record.contactAt,
    );
  }

  deleteHub(name: string): void {
    this.#sql.exec("DELETE FROM hubs WHERE name = ?", name);
  }

  #meta(key: string): SqlStorageValue | undefined {
    return this.#sql.exec<{ value: SqlStorageValue }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  #setMeta(key: string, value: SqlStorageValue): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }
}

/**
 * What an event costs beyond its data, counted against TOPIC_MAX_LAG_BYTES: about the JSON
 * frame's envelope, `{"event":…,"seq":…}`, as when the topic stored whole frames.
 */
const EVENT_OVERHEAD = 48;

type EventRow = {
  seq: number;
  event: string;
  data: string;
  id: string | null;
  ack_socket: string | null;
  ack_id: string | number | null;
};

function fromRow({ seq, event, data, id, ack_socket, ack_id }: EventRow): TopicEvent {
  return topicEvent(
    seq,
    event,
    data,
    id ?? undefined,
    ack_socket === null || ack_id === null ? undefined : { socket: ack_socket, id: ack_id },
  );
}

function topicEvent(
  seq: number,
  event: string,
  data: string,
  id: string | undefined,
  ack: EventAck | undefined,
): TopicEvent {
  const stored: TopicEvent = { seq, event, data };
  if (id !== undefined) stored.id = id;
  if (ack !== undefined) stored.ack = ack;
  return stored;
}

/** `data` as JSON text; a value with no JSON form (undefined) is stored as `null`. */
function jsonText(data: unknown): string {
  return JSON.stringify(data) ?? "null";
}

/** A row of the schema before the neutral event: the JSON frame as it went on the wire. */
const StoredFrame = v.object({ data: v.unknown(), id: v.optional(v.string()) });
const StoredAck = v.object({
  socket: v.string(),
  id: v.union([v.string(), v.pipe(v.number(), v.safeInteger())]),
});

/**
 * Rewrites, once, the history of a topic stored before the neutral event model: each row's
 * JSON frame becomes its data's JSON text and its publisher id, its acknowledgement JSON the
 * two ack columns. `JSON.stringify(JSON.parse(x))` gives `x` back for any text that
 * JSON.stringify wrote, so each event goes on the wire exactly as before. One transaction:
 * a topic either has the new table or the old one, whole.
 */
function migrateFrames(storage: DurableObjectStorage): void {
  const sql = storage.sql;
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(events)").toArray();
  if (!columns.some((column) => column.name === "frame")) return;
  addColumnIfMissing(sql, "events", "ack TEXT");
  storage.transactionSync(() => {
    sql.exec(`CREATE TABLE events_neutral (${EVENTS_COLUMNS})`);
    type OldRow = { seq: number; event: string; frame: string; ack: string | null };
    for (const row of sql.exec<OldRow>("SELECT seq, event, frame, ack FROM events ORDER BY seq")) {
      const frame = v.parse(StoredFrame, JSON.parse(row.frame));
      const ack = row.ack === null ? null : v.parse(StoredAck, JSON.parse(row.ack));
      sql.exec(
        "INSERT INTO events_neutral (seq, event, data, id, ack_socket, ack_id) VALUES (?, ?, ?, ?, ?, ?)",
        row.seq,
        row.event,
        jsonText(frame.data),
        frame.id ?? null,
        ack?.socket ?? null,
        ack?.id ?? null,
      );
    }
    sql.exec("DROP TABLE events");
    sql.exec("ALTER TABLE events_neutral RENAME TO events");
  });
}
