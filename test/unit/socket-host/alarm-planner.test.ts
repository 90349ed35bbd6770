import { describe, expect, it } from "vitest";
import { AlarmPlanner, EXPIRY_BUCKET_MS, expiryAlarmAt } from "../../../src/socket-host/alarm-planner";

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
  it("plans an expiry at the end of its bucket, never before it", () => {
    for (const at of [1, EXPIRY_BUCKET_MS - 1, EXPIRY_BUCKET_MS, EXPIRY_BUCKET_MS + 1, 1_765_000_012_345]) {
      const planned = expiryAlarmAt(at);
      expect(planned).toBeGreaterThanOrEqual(at);
      expect(planned - at).toBeLessThan(EXPIRY_BUCKET_MS);
      expect(planned % EXPIRY_BUCKET_MS).toBe(0);
    }
  });

  it("thousands of staggered expiries within one bucket write the alarm once", () => {
    const { writes, storage } = fakeStorage();
    const planner = new AlarmPlanner(storage);
    const start = 100 * EXPIRY_BUCKET_MS + 1;
    for (let i = 0; i < 5000; i++) planner.expiry(start + ((i * 7) % (EXPIRY_BUCKET_MS - 1)));
    expect(writes).toEqual([101 * EXPIRY_BUCKET_MS]);
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
    const { writes, storage } = fakeStorage(true);
    const planner = new AlarmPlanner(storage);
    planner.by(5000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    planner.by(5000);
    expect(writes).toEqual([5000, 5000]);
  });
});
