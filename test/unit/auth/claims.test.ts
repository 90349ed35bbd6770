import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  MAX_EMAIL_LENGTH,
  MAX_RESOURCE_PATTERN_LENGTH,
  MAX_RESOURCE_PATTERNS,
  MAX_SCOPE_LENGTH,
  MAX_SUB_LENGTH,
  TokenClaimsSchema,
} from "../../../src/auth/claims";
import { verifyToken } from "../../../src/auth/verify-token";
import { PrincipalSchema } from "../../../src/socket-host/attachment";
import { signToken, TEST_JWT_SECRET } from "../../helpers/tokens";

const base = { sub: "user-1", exp: 1_700_000_000 };
const accepts = (claims: Record<string, unknown>) => v.safeParse(TokenClaimsSchema, claims).success;

/** `count` distinct resource patterns of exactly MAX_RESOURCE_PATTERN_LENGTH characters. */
function longestPatterns(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const prefix = `fund:${i}`;
    return prefix + "x".repeat(MAX_RESOURCE_PATTERN_LENGTH - prefix.length);
  });
}

describe("TokenClaimsSchema", () => {
  it("accepts the minimal claims: sub and exp", () => {
    expect(accepts(base)).toBe(true);
  });

  it("requires sub and an integer exp", () => {
    expect(accepts({ exp: base.exp })).toBe(false);
    expect(accepts({ sub: "u" })).toBe(false);
    expect(accepts({ ...base, exp: base.exp + 0.5 })).toBe(false);
  });

  it("drops unknown claims from its output", () => {
    const result = v.safeParse(TokenClaimsSchema, { ...base, role: "admin" });
    expect(result.success && result.output).toEqual(base);
  });

  it("bounds sub and email at their maximum length", () => {
    expect(accepts({ ...base, sub: "s".repeat(MAX_SUB_LENGTH) })).toBe(true);
    expect(accepts({ ...base, sub: "s".repeat(MAX_SUB_LENGTH + 1) })).toBe(false);
    expect(accepts({ ...base, email: "e".repeat(MAX_EMAIL_LENGTH) })).toBe(true);
    expect(accepts({ ...base, email: "e".repeat(MAX_EMAIL_LENGTH + 1) })).toBe(false);
  });

  it("takes scope as a bounded string or list", () => {
    expect(accepts({ ...base, scope: "s".repeat(MAX_SCOPE_LENGTH) })).toBe(true);
    expect(accepts({ ...base, scope: "s".repeat(MAX_SCOPE_LENGTH + 1) })).toBe(false);
    expect(accepts({ ...base, scope: ["edit", "publish"] })).toBe(true);
    expect(accepts({ ...base, scope: null })).toBe(true);
    expect(accepts({ ...base, scope: { edit: true } })).toBe(false);
  });

  it(`takes up to ${MAX_RESOURCE_PATTERNS} resource patterns of up to ${MAX_RESOURCE_PATTERN_LENGTH} characters`, () => {
    expect(accepts({ ...base, resources: longestPatterns(MAX_RESOURCE_PATTERNS) })).toBe(true);
    expect(accepts({ ...base, resources: longestPatterns(MAX_RESOURCE_PATTERNS + 1) })).toBe(false);
    expect(accepts({ ...base, resources: [`${longestPatterns(1)[0]}x`] })).toBe(false);
  });

  it.each([
    ["fund:fund_123", true],
    ["simulation:*", true],
    ["gp_entity:x-1", true],
    ["_t:x", true],
    ["fund:a:b", true],
    ["fund", false],
    ["fund:", false],
    [":x", false],
    ["Fund:x", false],
    ["1fund:x", false],
    ["fund:*x", false],
    ["fund:x*", false],
    ["fund:x y", false],
    ["fund::x", false],
    ["fund:**", false],
  ])("resource pattern %j is accepted: %s", (pattern, ok) => {
    expect(accepts({ ...base, resources: [pattern] })).toBe(ok);
  });
});

describe("claims and the socket attachment agree", () => {
  const config = { secret: TEST_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined };

  it("the principal of the largest token verifyToken accepts fits the attachment (PrincipalSchema, 2,048 bytes)", async () => {
    const principal = await verifyToken(
      await signToken({
        sub: "s".repeat(MAX_SUB_LENGTH),
        email: "e".repeat(MAX_EMAIL_LENGTH),
        scope: `edit publish ${"openid ".repeat(400)}`.slice(0, MAX_SCOPE_LENGTH),
        resources: longestPatterns(MAX_RESOURCE_PATTERNS),
      }),
      config,
    );
    expect(v.safeParse(PrincipalSchema, principal).success).toBe(true);
    const attachment = { v: 1, id: "i".repeat(64), protocol: "json", principal };
    expect(new TextEncoder().encode(JSON.stringify(attachment)).byteLength).toBeLessThan(2048);
  });

  it("a token without email still yields a principal the attachment accepts", async () => {
    const principal = await verifyToken(await signToken({ email: "" }), config);
    expect(v.safeParse(PrincipalSchema, principal).success).toBe(true);
  });
});
