import { describe, expect, it } from "vitest";
import { AlarmPlanner, EXPIRY_SPACING_MS } from "../../../src/socket-host/alarm-planner";
import { expectLogs } from "../../helpers/expected-logs";

/** The one storage call the planner makes, recorded. */
function fakeStorage(fail = false) {
  const writes: number[] = [];
  const storage = {
    setAlarm: async (at: number) => {
      writes.push(at);
      if (fail) throw new Error("storage unavailable (test)");
    },
  };
  return { writes, storage: storage as unknown as DurableObjectStorage };
}

describe("AlarmPlanner", () => {
  it("plans a lone expiry at its own time", () => {
    const { writes, storage } = fakeStorage();
    const planner = new AlarmPlanner(storage);
    planner.expiry(1_765_000_012_000);
    expect(writes).toEqual([1_765_000_012_000]);
  });

  it("after an alarm that closed expired sockets, thousands of staggered expiries wait for one alarm a spacing later", () => {
    const { writes, storage } = fakeStorage();
    const planner = new AlarmPlanner(storage);
    const now = 1_765_000_000_000;
    planner.expired(now);
    for (let i = 0; i < 5000; i++) planner.expiry(now + 1000 + ((i * 7) % (EXPIRY_SPACING_MS - 1000)));
    expect(writes).toEqual([now + EXPIRY_SPACING_MS]);
    // Never before its own time: an expiry past the spacing is planned at that time.
    expect(planner.expiryAt(now + EXPIRY_SPACING_MS + 5)).toBe(now + EXPIRY_SPACING_MS + 5);
  });

  it("writes only to move the alarm earlier; after it fired, the next plan writes again", () => {
    const { writes, storage } = fakeStorage();
    const planner = new AlarmPlanner(storage);
    planner.by(5000);
    planner.by(7000);
    planner.by(3000);
    planner.by(Number.POSITIVE_INFINITY);
    expect(writes).toEqual([5000, 3000]);
    planner.fired();
    planner.by(9000);
    expect(writes).toEqual([5000, 3000, 9000]);
  });

  it("after a wake, an alarm assumed stored is not written again", () => {
    const { writes, storage } = fakeStorage();
    const planner = new AlarmPlanner(storage);
    planner.assume(4000);
    planner.by(4000);
    planner.by(6000);
    expect(writes).toEqual([]);
    planner.by(2000);
    expect(writes).toEqual([2000]);
  });

  it("a failed write is not taken as done: the next plan writes again", async () => {
    const logs = expectLogs(/setting the alarm failed/);
    const { writes, storage } = fakeStorage(true);
    const planner = new AlarmPlanner(storage);
    planner.by(5000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    planner.by(5000);
    expect(writes).toEqual([5000, 5000]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(logs.lines().length, "each failed write is logged").toBeGreaterThan(0);
  });
});
