/**
 * A document's durable state in its Durable Object's SQLite: the Y.Doc as a snapshot (in
 * chunks, within the row size limit) plus an append-only log of updates since; the outbox of
 * `resource_updated` events not yet handed to the topic; the JSON-protocol editors; and the
 * dedupe keys of applied edits (ingest event ids, hub socket and message ids).
 */
import { DEDUPE_WINDOW_MS, SNAPSHOT_CHUNK_BYTES } from "../protocol/limits";
import { addColumnIfMissing } from "../storage/sql";

export interface JsonEditor {
  socket: string;
  hub: string;
  sub: string;
  email: string;
}

export interface EditRecord {
  seq: number | null;
  outboxId: number;
  eventIndex: number;
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
    // Where the edit's event is in its row: a batch stores its edits' events in one row.
    addColumnIfMissing(this.#sql, "edit_ids", "event_index INTEGER");
    // Every edit with an id (a hub edit's socket and message id too) prunes by age, and every
    // published row looks up its edits: neither may scan the 15 minutes of records.
    this.#sql.exec(`
      CREATE INDEX IF NOT EXISTS edit_ids_at ON edit_ids (at);
      CREATE INDEX IF NOT EXISTS edit_ids_outbox ON edit_ids (outbox_id);
    `);
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

  /** A published row goes; the edits it carried learn their seqs (for their duplicates). */
  removeOutbox(id: number, seqs: number[]): void {
    this.#storage.transactionSync(() => {
      this.#sql.exec("DELETE FROM outbox WHERE id = ?", id);
      const edits = this.#sql
        .exec<{ id: string; event_index: number | null }>(
          "SELECT id, event_index FROM edit_ids WHERE outbox_id = ?",
          id,
        )
        .toArray();
      for (const edit of edits) {
        const seq = seqs[edit.event_index ?? 0];
        if (seq !== undefined) this.#sql.exec("UPDATE edit_ids SET seq = ? WHERE id = ?", seq, edit.id);
      }
    });
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
   * An edit applied within the dedupe window, by its dedupe key: its seq once its event is
   * published (null until then), else the outbox row and the place in it of its event.
   */
  editRecord(key: string, now: number): EditRecord | null {
    const row = this.#sql
      .exec<{ seq: number; outbox_id: number | null; event_index: number | null }>(
        "SELECT seq, outbox_id, event_index FROM edit_ids WHERE id = ? AND at > ?",
        key,
        now - DEDUPE_WINDOW_MS,
      )
      .toArray()[0];
    if (!row) return null;
    return { seq: row.seq >= 0 ? row.seq : null, outboxId: row.outbox_id ?? -1, eventIndex: row.event_index ?? 0 };
  }

  /** Remembers an edit as soon as it is applied, before its event is published. */
  rememberEdit(key: string, outboxId: number, eventIndex: number, now: number): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO edit_ids (id, seq, at, outbox_id, event_index) VALUES (?, -1, ?, ?, ?)",
      key,
      now,
      outboxId,
      eventIndex,
    );
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
