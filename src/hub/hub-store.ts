/**
 * A hub's durable state: its own name, its renewal time, and the subscriptions of sockets whose
 * subscriptions do not fit in their attachment (hub.ts), read back when a hub wakes from
 * hibernation. A Socket.IO hub keeps its own beside it (socketio/socketio-store.ts).
 */
import * as v from "valibot";
import { addColumnIfMissing, safeJson } from "../storage/sql";

/** A stored zone filter; one that does not parse filters nothing rather than failing the wake. */
const ZonesSchema = v.array(v.string());

export interface StoredSubscription {
  socketId: string;
  topic: string;
  zones: string[] | null;
  /** Subscribed by `subscribe` (as opposed to only by an editing session). */
  explicit: boolean;
  /** Held by an editing session (`start_editing`) of the resource the topic belongs to. */
  editing: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  socket_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  zones TEXT,
  PRIMARY KEY (socket_id, topic)
) WITHOUT ROWID;
`;

export class HubStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
    addColumnIfMissing(this.#sql, "subscriptions", "explicit INTEGER NOT NULL DEFAULT 1");
    addColumnIfMissing(this.#sql, "subscriptions", "editing INTEGER NOT NULL DEFAULT 0");
  }

  name(): string | null {
    const row = this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'name'").toArray()[0];
    return row?.value ?? null;
  }

  setName(name: string): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('name', ?)", name);
  }

  subscriptions(): StoredSubscription[] {
    type Row = { socket_id: string; topic: string; zones: string | null; explicit: number; editing: number };
    return this.#sql
      .exec<Row>("SELECT socket_id, topic, zones, explicit, editing FROM subscriptions")
      .toArray()
      .map((row) => ({
        socketId: row.socket_id,
        topic: row.topic,
        zones: row.zones === null ? null : storedZones(row.zones),
        explicit: row.explicit === 1,
        editing: row.editing === 1,
      }));
  }

  /** Replaces everything stored for one socket's subscriptions, in one transaction. */
  replaceSubscriptions(socketId: string, rows: Omit<StoredSubscription, "socketId">[]): void {
    this.deleteSocket(socketId);
    for (const { topic, zones, explicit, editing } of rows) {
      this.#sql.exec(
        "INSERT INTO subscriptions (socket_id, topic, zones, explicit, editing) VALUES (?, ?, ?, ?, ?)",
        socketId,
        topic,
        zones === null ? null : JSON.stringify(zones),
        explicit ? 1 : 0,
        editing ? 1 : 0,
      );
    }
  }

  deleteSocket(socketId: string): void {
    this.#sql.exec("DELETE FROM subscriptions WHERE socket_id = ?", socketId);
  }

  /** Drops rows of sockets that no longer exist (closed while the hub was not running). */
  retainSockets(socketIds: Set<string>): void {
    for (const row of this.#sql.exec<{ socket_id: string }>("SELECT DISTINCT socket_id FROM subscriptions").toArray()) {
      if (!socketIds.has(row.socket_id)) this.deleteSocket(row.socket_id);
    }
  }

  /** When this hub last renewed its registrations at its topics. */
  lastRenewAt(): number | null {
    const row = this.#sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'last_renew_at'").toArray()[0];
    return row?.value ?? null;
  }

  setLastRenewAt(at: number): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_renew_at', ?)", at);
  }
}

function storedZones(text: string): string[] | null {
  const zones = v.safeParse(ZonesSchema, safeJson(text));
  return zones.success ? zones.output : null;
}
