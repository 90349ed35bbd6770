import { describe, expect, it } from "vitest";
import {
  accessEndsAt,
  CLOCK_TOLERANCE_SECONDS,
  canAccess,
  hasScope,
  matchesResource,
  type Principal,
} from "../../../src/auth/principal";
import { verifyToken } from "../../../src/auth/verify-token";
import { signToken, TEST_JWT_SECRET } from "../../helpers/tokens";

function principal(overrides: Partial<Principal> = {}): Principal {
  return { sub: "user-1", email: "user-1", scopes: [], resources: null, exp: 2_000_000_000, ...overrides };
}

describe("hasScope", () => {
  it("is true only for scopes the token lists", () => {
    const p = principal({ scopes: ["edit"] });
    expect(hasScope(p, "edit")).toBe(true);
    expect(hasScope(p, "publish")).toBe(false);
  });

  it("matches whole scopes, not prefixes or substrings", () => {
    expect(hasScope(principal({ scopes: ["editor", "publisher"] }), "edit")).toBe(false);
    expect(hasScope(principal({ scopes: ["editor", "publisher"] }), "publish")).toBe(false);
  });

  it("is false for a token without scopes", () => {
    expect(hasScope(principal(), "edit")).toBe(false);
  });
});

describe("matchesResource", () => {
  it("matches an exact type:id", () => {
    expect(matchesResource("fund:fund_123", "fund", "fund_123")).toBe(true);
  });

  it("does not match another id or another type", () => {
    expect(matchesResource("fund:fund_123", "fund", "fund_124")).toBe(false);
    expect(matchesResource("fund:fund_123", "portfolio", "fund_123")).toBe(false);
  });

  it("does not match by prefix", () => {
    expect(matchesResource("fund:fund_1", "fund", "fund_123")).toBe(false);
    expect(matchesResource("fund:fund_123", "fund", "fund_1")).toBe(false);
    expect(matchesResource("fun:fund_123", "fund", "fund_123")).toBe(false);
  });

  it("matches any id of the type with *", () => {
    expect(matchesResource("simulation:*", "simulation", "simulation_789")).toBe(true);
    expect(matchesResource("simulation:*", "fund", "fund_123")).toBe(false);
  });

  it("treats * as the whole id only, not a glob", () => {
    expect(matchesResource("fund:fund_*", "fund", "fund_123")).toBe(false);
    expect(matchesResource("*:*", "fund", "fund_123")).toBe(false);
  });

  it("splits at the first colon, so ids may contain colons", () => {
    expect(matchesResource("fund:a:b", "fund", "a:b")).toBe(true);
    expect(matchesResource("fund:a:b", "fund:a", "b")).toBe(false);
  });

  it("matches nothing for a pattern without a type", () => {
    expect(matchesResource("fund_123", "fund", "fund_123")).toBe(false);
    expect(matchesResource(":fund_123", "", "fund_123")).toBe(false);
  });
});

describe("canAccess", () => {
  it("reaches everything without resources", () => {
    expect(canAccess(principal(), "fund", "anything")).toBe(true);
  });

  it("reaches only the listed resources when resources are given", () => {
    const p = principal({ resources: ["fund:fund_123", "simulation:*"] });
    expect(canAccess(p, "fund", "fund_123")).toBe(true);
    expect(canAccess(p, "simulation", "simulation_789")).toBe(true);
    expect(canAccess(p, "fund", "fund_999")).toBe(false);
    expect(canAccess(p, "portfolio", "portfolio_1")).toBe(false);
  });

  it("reaches nothing with an empty resources list", () => {
    expect(canAccess(principal({ resources: [] }), "fund", "fund_123")).toBe(false);
  });

  it("applies a verified token's resources", async () => {
    const p = await verifyToken(await signToken({ resources: ["fund:fund_123"] }), {
      secret: TEST_JWT_SECRET,
      jwksUrl: undefined,
      issuer: undefined,
      audience: undefined,
    });
    expect(canAccess(p, "fund", "fund_123")).toBe(true);
    expect(canAccess(p, "fund", "fund_456")).toBe(false);
  });
});

describe("accessEndsAt", () => {
  it("is the token's exp plus the clock tolerance, in milliseconds", () => {
    expect(accessEndsAt(principal({ exp: 1_700_000_000 }))).toBe((1_700_000_000 + CLOCK_TOLERANCE_SECONDS) * 1000);
  });

  it("ends access no earlier than verification stops accepting the token", () => {
    const exp = 1_700_000_000;
    expect(accessEndsAt(principal({ exp }))).toBeGreaterThan(exp * 1000);
  });
});
