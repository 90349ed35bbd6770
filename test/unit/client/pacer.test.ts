import { describe, expect, it } from "vitest";
import { TokenBucket as SendPacer } from "../../../src/protocol/token-bucket";

describe("SendPacer", () => {
  it("allows a burst at once, then one frame per 1/rate seconds", () => {
    const pacer = new SendPacer(10, 3, 0);
    expect([pacer.take(0), pacer.take(0), pacer.take(0), pacer.take(0)]).toEqual([true, true, true, false]);
    expect(pacer.delay(0)).toBe(100);
    expect(pacer.take(50)).toBe(false);
    expect(pacer.delay(50)).toBe(50);
    expect(pacer.take(100)).toBe(true);
  });

  it("refills up to the burst only, and starts full again on a new connection", () => {
    const pacer = new SendPacer(10, 2, 0);
    pacer.take(0);
    pacer.take(0);
    expect(pacer.delay(10_000)).toBe(0);
    expect([pacer.take(10_000), pacer.take(10_000), pacer.take(10_000)]).toEqual([true, true, false]);
    pacer.reset(10_000);
    expect(pacer.take(10_000)).toBe(true);
  });

  it("does not refill when the clock steps back", () => {
    const pacer = new SendPacer(10, 1, 1_000);
    pacer.take(1_000);
    expect(pacer.take(500)).toBe(false);
    expect(pacer.take(1_050)).toBe(false);
    expect(pacer.take(1_100)).toBe(true);
  });
});
