import { describe, expect, it } from "vitest";
import {
  emptyRecoveryLog,
  noteJoin,
  noteSent,
  RECOVERY_LOG_LIMIT,
  recoverySetting,
  recoveryWanted,
  resumePoints,
} from "../../../../src/hub/socketio/recovery-log";

describe("recovery log", () => {
  it("numbers sent events 1, 2, 3 across rooms", () => {
    const log = emptyRecoveryLog();
    noteJoin(log, "market:oil", 0, []);
    noteJoin(log, "trading:u", 4, []);
    expect([noteSent(log, "market:oil", 1), noteSent(log, "trading:u", 5), noteSent(log, "market:oil", 2)]).toEqual([
      1, 2, 3,
    ]);
  });

  it("resumes each room right after its last event at or before the received offset", () => {
    const log = emptyRecoveryLog();
    noteJoin(log, "market:oil", 0, []);
    noteJoin(log, "trading:u", 4, []);
    noteSent(log, "market:oil", 1); // offset 1: received
    noteSent(log, "market:oil", 2); // offset 2: written to a dead link
    noteSent(log, "trading:u", 5); // offset 3: written to a dead link
    expect(resumePoints(log, ["market:oil", "trading:u"], 1)).toEqual({ "market:oil": 1, "trading:u": 4 });
    expect(resumePoints(log, ["market:oil", "trading:u"], 3)).toEqual({ "market:oil": 2, "trading:u": 5 });
  });

  it("without any received offset, every room resumes from where it was joined", () => {
    const log = emptyRecoveryLog();
    noteJoin(log, "market:oil", 7, [7]); // joined with the latest tick (seq 7) about to be sent
    noteSent(log, "market:oil", 7);
    expect(resumePoints(log, ["market:oil"], null)).toEqual({ "market:oil": 6 });
  });

  it("refuses an offset it never sent, a room it never joined, and offsets older than the log", () => {
    const log = emptyRecoveryLog();
    noteJoin(log, "a", 0, []);
    for (let seq = 1; seq <= RECOVERY_LOG_LIMIT + 10; seq++) noteSent(log, "a", seq);
    expect(resumePoints(log, ["a"], RECOVERY_LOG_LIMIT + 11)).toBeNull();
    expect(resumePoints(log, ["a", "b"], RECOVERY_LOG_LIMIT)).toBeNull();
    expect(resumePoints(log, ["a"], 5)).toBeNull();
    // The oldest entries folded into the baseline: the first offset still logged resumes exactly.
    expect(resumePoints(log, ["a"], 11)).toEqual({ a: 11 });
    expect(log.log).toHaveLength(RECOVERY_LOG_LIMIT);
  });
});

describe("whether a client gets recovery", () => {
  it("follows the server's setting unless its CONNECT auth says recovery: true or false", () => {
    for (const byDefault of [false, true]) {
      expect(recoveryWanted(undefined, byDefault)).toBe(byDefault);
      expect(recoveryWanted({ token: "t" }, byDefault)).toBe(byDefault);
      expect(recoveryWanted({ recovery: true }, byDefault)).toBe(true);
      expect(recoveryWanted({ recovery: false }, byDefault)).toBe(false);
      expect(recoveryWanted({ recovery: "yes" }, byDefault)).toBe(byDefault);
    }
  });

  it('the setting is off unless it says "on"', () => {
    expect(recoverySetting(undefined)).toBe(false);
    expect(recoverySetting("off")).toBe(false);
    expect(recoverySetting("")).toBe(false);
    expect(recoverySetting("on")).toBe(true);
    expect(recoverySetting(" ON ")).toBe(true);
    expect(recoverySetting("true")).toBe(true);
  });
});
