/**
 * What a Socket.IO hub keeps beside the hub's store: when it last pinged its sessions, and the
 * records closed sessions leave for connection state recovery.
 */
import * as v from "valibot";
import { PrincipalSchema } from "../../socket-host/attachment";
import { safeJson } from "../../storage/sql";
import type { RecoveryRecord } from "./socketio-protocol";

/** A stored record, checked as it is read back: one that does not parse resumes nothing. */
const RecoveryRecordSchema = v.object({
  principal: PrincipalSchema,
  rooms: v.array(v.string()),
  log: v.object({
    next: v.number(),
    log: v.array(v.object({ offset: v.number(), topic: v.string(), seq: v.number() })),
    baseline: v.record(v.string(), v.number()),
  }),
});

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sio_recovery (pid TEXT PRIMARY KEY, record TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
`;

export class SocketIoStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
  }

  /** When this hub last pinged its sessions. */
  lastPingAt(): number | null {
    const row = this.#sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'last_ping_at'").toArray()[0];
    return row?.value ?? null;
  }

  setLastPingAt(at: number): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_ping_at', ?)", at);
  }

  putRecovery(pid: string, record: RecoveryRecord, expiresAt: number): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO sio_recovery (pid, record, expires_at) VALUES (?, ?, ?)",
      pid,
      JSON.stringify(record),
      expiresAt,
    );
  }

  /** The record left by a closed session, once: it is removed as it is taken. */
  takeRecovery(pid: string, now: number): RecoveryRecord | null {
    const row = this.#sql
      .exec<{ record: string }>("DELETE FROM sio_recovery WHERE pid = ? AND expires_at > ? RETURNING record", pid, now)
      .toArray()[0];
    if (!row) return null;
    const record = v.safeParse(RecoveryRecordSchema, safeJson(row.record));
    return record.success ? record.output : null;
  }

  pruneRecovery(now: number): void {
    this.#sql.exec("DELETE FROM sio_recovery WHERE expires_at <= ?", now);
  }
}
