import { describe, expect, it } from "vitest";
import {
  MAX_RATE_LIMITED_REPLIES,
  MAX_RATE_REFUSALS,
  MESSAGE_BURST,
  MESSAGES_PER_SECOND,
  RATE_REFUSAL_WINDOW_MS,
} from "../../../src/protocol/limits";
import { TokenBucket } from "../../../src/protocol/token-bucket";
import { MessageRateLimiter, type RateVerdict } from "../../../src/socket-host/rate-limiter";

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

/** The verdicts of `n` messages at time `now`, counted. */
function checkMany(limiter: MessageRateLimiter, n: number, now: number): Record<RateVerdict, number> {
  const counts: Record<RateVerdict, number> = { accept: 0, refuse: 0, drop: 0, close: 0 };
  for (let i = 0; i < n; i++) counts[limiter.check(now)] += 1;
  return counts;
}

describe("MessageRateLimiter", () => {
  it("uses the limits of limits.ts by default", () => {
    const limiter = new MessageRateLimiter(0);
    expect(checkMany(limiter, MESSAGE_BURST + MAX_RATE_REFUSALS + 1, 0)).toEqual({
      accept: MESSAGE_BURST,
      refuse: MAX_RATE_LIMITED_REPLIES,
      drop: MAX_RATE_REFUSALS - MAX_RATE_LIMITED_REPLIES,
      close: 1,
    });
  });

  it("answers the first refusals of a window, then drops silently", () => {
    const limiter = new MessageRateLimiter(0, { rate: 1, burst: 2, maxRefusals: 100, maxReplies: 3, windowMs: 1000 });
    expect(checkMany(limiter, 2, 0)).toMatchObject({ accept: 2 });
    expect(checkMany(limiter, 10, 0)).toEqual({ accept: 0, refuse: 3, drop: 7, close: 0 });
  });

  // Regression: the count of refusals was reset by every accepted message.
  it("closes past maxRefusals in a window even when messages are accepted in between", () => {
    const limiter = new MessageRateLimiter(0, { rate: 10, burst: 1, maxRefusals: 20, maxReplies: 5, windowMs: 10_000 });
    let accepted = 0;
    let verdict: RateVerdict = "accept";
    // 100 messages a second against 10 allowed: about 9 refused in every 10.
    for (let now = 0; verdict !== "close" && now < 10_000; now += 10) {
      verdict = limiter.check(now);
      if (verdict === "accept") accepted += 1;
    }
    expect(verdict).toBe("close");
    expect(accepted).toBeGreaterThan(1);
  });

  it("stays closed once it has said so", () => {
    const limiter = new MessageRateLimiter(0, { rate: 1, burst: 1, maxRefusals: 1, maxReplies: 1, windowMs: 1000 });
    expect(checkMany(limiter, 3, 0)).toEqual({ accept: 1, refuse: 1, drop: 0, close: 1 });
    expect(limiter.check(100_000)).toBe("close");
  });

  it("starts a new window after windowMs: a slow trickle of refusals never closes, and each window answers again", () => {
    const limiter = new MessageRateLimiter(0, { rate: 1, burst: 1, maxRefusals: 5, maxReplies: 2, windowMs: 1000 });
    const totals: Record<RateVerdict, number> = { accept: 0, refuse: 0, drop: 0, close: 0 };
    // Each second: one accepted, four refused (under maxRefusals), for a minute.
    for (let second = 0; second < 60; second++) {
      const counts = checkMany(limiter, 5, second * 1000);
      for (const verdict of Object.keys(totals) as RateVerdict[]) totals[verdict] += counts[verdict];
    }
    expect(totals).toEqual({ accept: 60, refuse: 120, drop: 120, close: 0 });
  });

  it("the default window holds a client twice as fast as the sustained rate to a few seconds", () => {
    const limiter = new MessageRateLimiter(0);
    let closedAt: number | null = null;
    const period = 1000 / (2 * MESSAGES_PER_SECOND);
    for (let now = 0; closedAt === null && now < RATE_REFUSAL_WINDOW_MS; now += period) {
      if (limiter.check(now) === "close") closedAt = now;
    }
    expect(closedAt).not.toBeNull();
  });
});
