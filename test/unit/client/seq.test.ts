import { describe, expect, it } from "vitest";
import { SeqTracker } from "../../../client/src/seq";

describe("SeqTracker", () => {
  it("delivers the latest state after a fresh subscription, then live events in order", () => {
    const tracker = new SeqTracker();
    expect(tracker.subscribed(5, undefined)).toEqual({ reload: false });
    expect(tracker.accept(5)).toBe("deliver"); // the latest-state event carries the baseline seq
    expect(tracker.accept(6)).toBe("deliver");
    expect(tracker.accept(7)).toBe("deliver");
    expect(tracker.last).toBe(7);
  });

  it("delivers the first live event when a channel has no latest state", () => {
    const tracker = new SeqTracker();
    tracker.subscribed(5, undefined);
    expect(tracker.accept(6)).toBe("deliver");
    expect(tracker.accept(5)).toBe("duplicate");
  });

  it("drops duplicates: every seq at or below the last delivered", () => {
    const tracker = new SeqTracker();
    tracker.subscribed(0, undefined);
    expect(tracker.accept(1)).toBe("deliver");
    expect(tracker.accept(2)).toBe("deliver");
    expect(tracker.accept(2)).toBe("duplicate");
    expect(tracker.accept(1)).toBe("duplicate");
    expect(tracker.accept(3)).toBe("deliver");
  });

  it("reports a jump once, drops what follows until the resubscription answers, then takes the replay", () => {
    const tracker = new SeqTracker();
    tracker.subscribed(0, undefined);
    expect(tracker.accept(1)).toBe("deliver");
    expect(tracker.accept(4)).toBe("gap");
    expect(tracker.last).toBe(1); // the since_seq to resubscribe with
    expect(tracker.recovering).toBe(true);
    expect(tracker.accept(5)).toBe("drop");
    expect(tracker.accept(2)).toBe("deliver"); // contiguous events still count
    expect(tracker.subscribed(5, true)).toEqual({ reload: false });
    expect(tracker.recovering).toBe(false);
    expect(tracker.accept(2)).toBe("duplicate");
    expect(tracker.accept(3)).toBe("deliver");
    expect(tracker.accept(4)).toBe("deliver");
    expect(tracker.accept(5)).toBe("deliver");
    expect(tracker.accept(6)).toBe("deliver");
  });

  it("asks for a reload when recovery fails, and takes the server's seq as the new baseline", () => {
    const tracker = new SeqTracker();
    tracker.subscribed(0, undefined);
    tracker.accept(1);
    expect(tracker.subscribed(2000, false)).toEqual({ reload: true });
    expect(tracker.accept(2000)).toBe("deliver"); // the latest state after the resync
    expect(tracker.accept(2001)).toBe("deliver");
  });

  it("keeps its position when a resubscription recovered", () => {
    const tracker = new SeqTracker();
    tracker.subscribed(3, undefined);
    tracker.accept(4);
    expect(tracker.subscribed(9, true)).toEqual({ reload: false });
    expect(tracker.last).toBe(4);
    expect(tracker.accept(9)).toBe("gap"); // a replay starts at since_seq + 1, not at the new seq
  });
});
