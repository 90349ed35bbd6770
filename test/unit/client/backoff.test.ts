import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../../client/src/backoff";
import { refreshDelay, tokenExpiry } from "../../../client/src/jwt";
import { signToken } from "../../helpers/tokens";

describe("backoffDelay", () => {
  it("does not wait before the first connection", () => {
    expect(backoffDelay(0, {}, () => 0.99)).toBe(0);
  });

  it("doubles the ceiling per attempt, up to the maximum", () => {
    const top = () => 0.999999;
    const ceilings = [1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffDelay(attempt, { baseMs: 100, maxMs: 1000 }, top));
    expect(ceilings).toEqual([99, 199, 399, 799, 999, 999, 999]);
    expect(backoffDelay(5000, { baseMs: 100, maxMs: 1000 }, top)).toBe(999);
  });

  it("is jittered over the whole range below the ceiling", () => {
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000 }, () => 0)).toBe(0);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000 }, () => 0.5)).toBe(200);
  });
});

describe("token expiry", () => {
  it("reads exp from a JWT without verifying it", async () => {
    const token = await signToken({ ttl: 120 });
    const exp = tokenExpiry(token);
    expect(exp).toBeTypeOf("number");
    expect(Math.abs((exp ?? 0) - (Math.floor(Date.now() / 1000) + 120))).toBeLessThanOrEqual(2);
  });

  it("has no expiry for what is not a JWT", () => {
    expect(tokenExpiry("not-a-token")).toBeUndefined();
    expect(tokenExpiry("a.!!!.c")).toBeUndefined();
    expect(tokenExpiry(`a.${btoa('{"exp":"soon"}')}.c`)).toBeUndefined();
  });

  it("refreshes before expiry: a fifth of the remaining life early, at most the margin, at least the minimum", () => {
    const now = 1_000_000_000_000;
    expect(refreshDelay(now / 1000 + 3600, now)).toBe(3_540_000);
    expect(refreshDelay(now / 1000 + 100, now)).toBe(80_000);
    expect(refreshDelay(now / 1000 - 10, now)).toBe(1_000);
  });
});
