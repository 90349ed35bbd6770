/**
 * Socket.IO connection state recovery, per session: every room event sent gets the next offset
 * of the session, and a bounded log remembers which room and seq each offset was. When the client
 * comes back with the last offset it actually received, each room resumes right after the last
 * event of that room at or before the offset, whatever was written to the dead connection after
 * it. Pure.
 */

/** Offsets remembered per session; older ones fold into the per-room baseline. */
export const RECOVERY_LOG_LIMIT = 1000;

export interface RecoveryLog {
  next: number;
  /** Events sent, oldest first. */
  log: { offset: number; topic: string; seq: number }[];
  /** Per room: the seq already covered before the oldest logged event of that room. */
  baseline: Record<string, number>;
}

export function emptyRecoveryLog(next = 1): RecoveryLog {
  return { next, log: [], baseline: {} };
}

/** A room joined at `seq` with `initialSeqs` about to be sent: nothing before them is owed. */
export function noteJoin(state: RecoveryLog, topic: string, seq: number, initialSeqs: number[]): void {
  const first = initialSeqs.length > 0 ? Math.min(...initialSeqs) - 1 : seq;
  state.baseline[topic] = first;
}

/** The offset of an event being sent, logged. */
export function noteSent(state: RecoveryLog, topic: string, seq: number): number {
  const offset = state.next;
  state.next += 1;
  state.log.push({ offset, topic, seq });
  while (state.log.length > RECOVERY_LOG_LIMIT) {
    const evicted = state.log.shift();
    if (evicted) state.baseline[evicted.topic] = Math.max(state.baseline[evicted.topic] ?? 0, evicted.seq);
  }
  return offset;
}

/**
 * Where each room resumes for a client whose last received offset is `received` (null: none),
 * or null when the log no longer reaches back that far.
 */
export function resumePoints(
  state: RecoveryLog,
  rooms: string[],
  received: number | null,
): Record<string, number> | null {
  const upTo = received ?? 0;
  const oldest = state.log[0]?.offset;
  if (oldest !== undefined && upTo < oldest - 1) return null;
  if (upTo >= state.next) return null; // an offset this session never sent
  const points: Record<string, number> = {};
  for (const room of rooms) {
    const base = state.baseline[room];
    if (base === undefined) return null;
    points[room] = base;
  }
  for (const { offset, topic, seq } of state.log) {
    if (offset > upTo) break;
    if (topic in points) points[topic] = seq;
  }
  return points;
}

/**
 * Whether a connecting client gets connection state recovery (a `pid`, and an offset appended to
 * every room event): its CONNECT auth's `recovery: true|false` when it says, else the server's
 * setting. Socket.IO's own default is off, because clients that call handlers with every
 * argument (python-socketio) break on the extra offset argument.
 */
export function recoveryWanted(auth: Record<string, unknown> | undefined, byDefault: boolean): boolean {
  return typeof auth?.recovery === "boolean" ? auth.recovery : byDefault;
}

/** The `SOCKETIO_RECOVERY` setting: "on" (or "true") turns recovery on for every client. */
export function recoverySetting(value: string | undefined): boolean {
  return value !== undefined && ["on", "true", "1"].includes(value.trim().toLowerCase());
}
