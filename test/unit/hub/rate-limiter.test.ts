import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../../src/hub/rate-limiter";

/** How many of `n` takes at time `now` succeed. */
function takeMany(bucket: TokenBucket, n: number, now: number): number {
  let taken = 0;
  for (let i = 0; i < n; i++) if (bucket.take(now)) taken++;
  return taken;
}

describe("TokenBucket", () => {
  it("starts full: a burst is allowed at once, one more is refused", () => {
    const bucket = new TokenBucket(50, 100, 0);
    expect(takeMany(bucket, 100, 0)).toBe(100);
    expect(bucket.take(0)).toBe(false);
  });

  it("refills at the rate per second", () => {
    const bucket = new TokenBucket(50, 100, 0);
    takeMany(bucket, 100, 0);
    expect(takeMany(bucket, 100, 1000)).toBe(50);
  });

  it("refills fractionally: half a token is not enough, a whole one is", () => {
    const bucket = new TokenBucket(50, 100, 0);
    takeMany(bucket, 100, 0);
    expect(bucket.take(10)).toBe(false); // 0.5 token
    expect(bucket.take(20)).toBe(true); // 0.5 + 0.5 token
    expect(bucket.take(20)).toBe(false);
  });

  it("never holds more than the burst, however long it is idle", () => {
    const bucket = new TokenBucket(50, 100, 0);
    takeMany(bucket, 100, 0);
    expect(takeMany(bucket, 1000, 3_600_000)).toBe(100);
  });

  it("refused takes cost nothing", () => {
    const bucket = new TokenBucket(1, 1, 0);
    expect(bucket.take(0)).toBe(true);
    for (let i = 0; i < 100; i++) expect(bucket.take(0)).toBe(false);
    expect(bucket.take(1000)).toBe(true);
  });

  it("holds a client sending far too fast to burst plus the sustained rate", () => {
    const bucket = new TokenBucket(50, 100, 0);
    let accepted = 0;
    for (let now = 0; now <= 10_000; now += 1) if (bucket.take(now)) accepted++;
    expect(accepted).toBeGreaterThanOrEqual(100 + 50 * 10 - 1);
    expect(accepted).toBeLessThanOrEqual(100 + 50 * 10 + 1);
  });

  it("lets a client at exactly the sustained rate through forever", () => {
    const bucket = new TokenBucket(50, 100, 0);
    for (let now = 0; now < 60_000; now += 20) expect(bucket.take(now)).toBe(true);
  });

  it("does not refill when the clock steps backwards", () => {
    const bucket = new TokenBucket(50, 100, 10_000);
    takeMany(bucket, 100, 10_000);
    expect(bucket.take(5_000)).toBe(false);
  });

  // Regression (fixed in take): after a backward clock step `#updatedAt` moves back too, so
  // when the clock returns to where it was, the time already counted is refilled a second time.
  it("does not mint tokens when a clock that stepped back returns to where it was", () => {
    const bucket = new TokenBucket(50, 100, 10_000);
    takeMany(bucket, 100, 10_000);
    expect(bucket.take(9_000)).toBe(false);
    expect(bucket.take(10_000)).toBe(false);
  });
});
