/**
 * A document's durable state in its Durable Object's SQLite: the Y.Doc as a snapshot (in
 * chunks, within the row size limit) plus an append-only log of updates since; the outbox of
 * `resource_updated` events not yet handed to the topic; the JSON-protocol editors; and the
 * ids of ingested edits, for deduplication.
 */
import { DEDUPE_WINDOW_MS, SNAPSHOT_CHUNK_BYTES } from "../protocol/limits";
import { addColumnIfMissing } from "../storage/sql";

export interface JsonEditor {
  socket: string;
  hub: string;
  sub: string;
  email: string;
}

export interface OutboxEntry {
  id: number;
  /** The events for the topic, as `NewEvent`s (JSON). */
  events: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS updates (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, events TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS json_editors (socket TEXT PRIMARY KEY, hub TEXT NOT NULL, sub TEXT NOT NULL, email TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edit_ids (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
`;

export class DocumentStore {
  #sql: SqlStorage;
  #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#sql.exec(SCHEMA);
    addColumnIfMissing(this.#sql, "edit_ids", "outbox_id INTEGER");
  }

  name(): string | null {
    return this.#meta("name");
  }

  setName(name: string): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('name', ?)", name);
  }

  /** The snapshot (or null) and the updates logged after it, oldest first. */
  load(): { snapshot: Uint8Array | null; updates: Uint8Array[] } {
    const chunks = this.#sql.exec<{ data: ArrayBuffer }>("SELECT data FROM snapshot ORDER BY idx").toArray();
    const snapshot = chunks.length === 0 ? null : concat(chunks.map((row) => new Uint8Array(row.data)));
    const updates = this.#sql
      .exec<{ data: ArrayBuffer }>("SELECT data FROM updates ORDER BY id")
      .toArray()
      .map((row) => new Uint8Array(row.data));
    return { snapshot, updates };
  }

  /** Whether anything was ever stored: a never-edited resource does not exist. */
  exists(): boolean {
    return this.#count("snapshot") > 0 || this.#count("updates") > 0;
  }

  /** Appends an update and, in the same transaction, the events it produced for the topic. */
  /** Returns the outbox row's id, or null when the update produced no event. */
  appendUpdate(update: Uint8Array, events: unknown[]): number | null {
    return this.#storage.transactionSync(() => {
      this.#sql.exec("INSERT INTO updates (data) VALUES (?)", update);
      if (events.length === 0) return null;
      const row = this.#sql
        .exec<{ id: number }>("INSERT INTO outbox (events) VALUES (?) RETURNING id", JSON.stringify(events))
        .toArray()[0];
      return row?.id ?? null;
    });
  }

  hasOutbox(): boolean {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").toArray()[0]?.n !== 0;
  }

  /** Number of logged updates and their total size. */
  logSize(): { count: number; bytes: number } {
    const row = this.#sql
      .exec<{ count: number; bytes: number | null }>(
        "SELECT COUNT(*) AS count, SUM(LENGTH(data)) AS bytes FROM updates",
      )
      .toArray()[0];
    return { count: row?.count ?? 0, bytes: row?.bytes ?? 0 };
  }

  /** Replaces snapshot and log with one snapshot of the whole state, atomically. */
  compact(state: Uint8Array): void {
    this.#storage.transactionSync(() => {
      this.#sql.exec("DELETE FROM snapshot");
      for (let offset = 0, idx = 0; offset < state.byteLength; offset += SNAPSHOT_CHUNK_BYTES, idx++) {
        this.#sql.exec(
          "INSERT INTO snapshot (idx, data) VALUES (?, ?)",
          idx,
          state.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES),
        );
      }
      this.#sql.exec("DELETE FROM updates");
    });
  }

  outbox(): OutboxEntry[] {
    return this.#sql
      .exec<{ id: number; events: string }>("SELECT id, events FROM outbox ORDER BY id LIMIT 50")
      .toArray();
  }

  /** A published row goes; the ingested edit it carried (if any) learns its seq. */
  removeOutbox(id: number, seq: number | null): void {
    this.#storage.transactionSync(() => {
      this.#sql.exec("DELETE FROM outbox WHERE id = ?", id);
      if (seq !== null) this.#sql.exec("UPDATE edit_ids SET seq = ? WHERE outbox_id = ?", seq, id);
    });
  }

  /** The seq an ingested edit's row was published with, if it was. */
  publishedSeq(outboxId: number): number | null {
    const row = this.#sql
      .exec<{ seq: number }>("SELECT seq FROM edit_ids WHERE outbox_id = ? AND seq >= 0", outboxId)
      .toArray()[0];
    return row?.seq ?? null;
  }

  editors(): JsonEditor[] {
    return this.#sql
      .exec<JsonEditor & Record<string, SqlStorageValue>>("SELECT socket, hub, sub, email FROM json_editors")
      .toArray();
  }

  putEditor(editor: JsonEditor): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO json_editors (socket, hub, sub, email) VALUES (?, ?, ?, ?)",
      editor.socket,
      editor.hub,
      editor.sub,
      editor.email,
    );
  }

  removeEditor(socket: string): boolean {
    return this.#sql.exec("DELETE FROM json_editors WHERE socket = ?", socket).rowsWritten > 0;
  }

  /**
   * An ingested edit accepted within the dedupe window: its outbox row, and its seq once
   * published (-1 until then).
   */
  editRecord(id: string, now: number): { seq: number; outboxId: number } | null {
    const row = this.#sql
      .exec<{ seq: number; outbox_id: number | null }>(
        "SELECT seq, outbox_id FROM edit_ids WHERE id = ? AND at > ?",
        id,
        now - DEDUPE_WINDOW_MS,
      )
      .toArray()[0];
    return row ? { seq: row.seq, outboxId: row.outbox_id ?? -1 } : null;
  }

  /** Remembers an ingested edit as soon as it is applied, before its event is published. */
  rememberEdit(id: string, outboxId: number, now: number): void {
    this.#sql.exec("INSERT OR REPLACE INTO edit_ids (id, seq, at, outbox_id) VALUES (?, -1, ?, ?)", id, now, outboxId);
    this.#sql.exec("DELETE FROM edit_ids WHERE at <= ?", now - DEDUPE_WINDOW_MS);
  }

  #count(table: "snapshot" | "updates"): number {
    return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).toArray()[0]?.n ?? 0;
  }

  #meta(key: string): string | null {
    const row = this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row?.value ?? null;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
