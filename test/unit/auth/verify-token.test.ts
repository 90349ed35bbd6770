import { base64url, type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  MAX_RESOURCE_PATTERN_LENGTH,
  MAX_RESOURCE_PATTERNS,
  MAX_SCOPE_LENGTH,
  MAX_SUB_LENGTH,
} from "../../../src/auth/claims";
import {
  type AuthConfig,
  authConfigFromEnv,
  bearerToken,
  CLOCK_TOLERANCE_SECONDS,
  MAX_TOKEN_LENGTH,
  type TokenFailure,
  tokenFromRequest,
  verifyToken,
} from "../../../src/auth/verify-token";
import { ProtocolError } from "../../../src/protocol/errors";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../../../src/protocol/limits";
import { signToken, TEST_JWT_SECRET } from "../../helpers/tokens";

const config: AuthConfig = { secret: TEST_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined };
const secretBytes = new TextEncoder().encode(TEST_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** An HS256 token with exactly `payload` (no claims added). */
function signPayload(payload: JWTPayload, header: { alg: string; [key: string]: unknown } = { alg: "HS256" }) {
  return new SignJWT(payload).setProtectedHeader(header).sign(secretBytes);
}

/** A token of the given header and payload with the given (possibly empty) signature segment. */
function rawToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

/** The reason verification refuses `token` with; fails the test if it is accepted. */
async function refusal(token: string | null | undefined, with_: AuthConfig = config): Promise<TokenFailure> {
  try {
    const principal = await verifyToken(token, with_);
    throw new Error(`expected the token to be refused, got ${JSON.stringify(principal)}`);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(error.code).toBe("authentication_error");
    expect(error.status).toBe(401);
    return error.details?.reason as TokenFailure;
  }
}

describe("verifyToken: valid HS256 tokens", () => {
  it("returns the principal of a valid token, email falling back to sub", async () => {
    const before = now();
    const principal = await verifyToken(await signToken({ sub: "user-1", ttl: 600 }), config);
    expect(principal).toMatchObject({ sub: "user-1", email: "user-1", scopes: [], resources: null });
    expect(principal.exp).toBeGreaterThanOrEqual(before + 600);
    expect(principal.exp).toBeLessThanOrEqual(now() + 600);
  });

  it("uses the email claim when present", async () => {
    const principal = await verifyToken(await signToken({ email: "user@example.com" }), config);
    expect(principal.email).toBe("user@example.com");
  });

  it.each([
    ["edit publish", ["edit", "publish"]],
    ["  edit   publish ", ["edit", "publish"]],
    ["publish", ["publish"]],
    ["", []],
  ])("splits the scope %j on spaces", async (scope, scopes) => {
    expect((await verifyToken(await signToken({ scope }), config)).scopes).toEqual(scopes);
  });

  it("keeps only the scopes this service knows, so a long identity-provider scope string is fine", async () => {
    const scope = `openid profile email ${"x".repeat(2000)} publish offline_access`;
    expect((await verifyToken(await signToken({ scope }), config)).scopes).toEqual(["publish"]);
  });

  it("matches whole scopes, not substrings", async () => {
    expect((await verifyToken(await signToken({ scope: "editor publisher read:edit" }), config)).scopes).toEqual([]);
  });

  it("accepts scopes given as an array", async () => {
    const token = await signPayload({ sub: "u", exp: now() + 60, scope: ["openid", "edit", "publish"] });
    expect((await verifyToken(token, config)).scopes).toEqual(["edit", "publish"]);
  });

  it("has no scopes without a scope claim or with a null one", async () => {
    expect((await verifyToken(await signToken(), config)).scopes).toEqual([]);
    expect((await verifyToken(await signPayload({ sub: "u", exp: now() + 60, scope: null }), config)).scopes).toEqual(
      [],
    );
  });

  it.each([
    ["null", null],
    ["empty", ""],
  ])("falls back to sub when the email is %s", async (_label, email) => {
    const token = await signPayload({ sub: "user-7", exp: now() + 60, email });
    expect((await verifyToken(token, config)).email).toBe("user-7");
  });

  it("keeps valid resource patterns", async () => {
    const resources = ["fund:fund_123", "simulation:*", "portfolio:p-1.2", "fund:a:b"];
    expect((await verifyToken(await signToken({ resources }), config)).resources).toEqual(resources);
  });

  it("keeps an empty resources list (reaches nothing) apart from no list (reaches everything)", async () => {
    expect((await verifyToken(await signToken({ resources: [] }), config)).resources).toEqual([]);
    expect((await verifyToken(await signToken(), config)).resources).toBeNull();
  });

  it(`accepts up to ${MAX_RESOURCE_PATTERNS} resource patterns of up to ${MAX_RESOURCE_PATTERN_LENGTH} characters`, async () => {
    const resources = Array.from(
      { length: MAX_RESOURCE_PATTERNS },
      (_, i) => `fund:${String(i).padEnd(MAX_RESOURCE_PATTERN_LENGTH - 5, "x")}`,
    );
    expect((await verifyToken(await signToken({ resources }), config)).resources).toEqual(resources);
  });

  it("ignores unknown claims", async () => {
    const token = await signPayload({ sub: "u", exp: now() + 60, roles: ["admin"], nested: { a: 1 } });
    expect((await verifyToken(token, config)).sub).toBe("u");
  });

  it("accepts a token expired less than the clock tolerance ago", async () => {
    const principal = await verifyToken(await signToken({ ttl: -(CLOCK_TOLERANCE_SECONDS - 10) }), config);
    expect(principal.sub).toBe("user-123");
  });

  it("accepts a token not valid before a moment within the clock tolerance", async () => {
    const token = await signPayload({ sub: "u", exp: now() + 60, nbf: now() + CLOCK_TOLERANCE_SECONDS - 10 });
    expect((await verifyToken(token, config)).sub).toBe("u");
  });

  it("accepts any iss and aud when neither is configured", async () => {
    expect((await verifyToken(await signToken({ iss: "someone", aud: "anything" }), config)).sub).toBe("user-123");
  });

  it("accepts the configured issuer and audience", async () => {
    const strict = { ...config, issuer: "https://issuer.example", audience: "realtime-edge" };
    const token = await signToken({ iss: "https://issuer.example", aud: "realtime-edge" });
    expect((await verifyToken(token, strict)).sub).toBe("user-123");
  });
});

describe("verifyToken: refused tokens", () => {
  it.each([
    ["undefined", undefined],
    ["null", null],
    ["empty", ""],
  ])("refuses a %s token as token_missing", async (_label, token) => {
    expect(await refusal(token)).toBe("token_missing");
  });

  it.each([
    ["a single word", "abc"],
    ["two segments", "abc.def"],
    ["garbage segments", "a.b.c"],
    ["dots only", ".."],
    ["a header that is not JSON", `${base64url.encode("not json")}.e30.sig`],
  ])("refuses %s as token_malformed", async (_label, token) => {
    expect(await refusal(token)).toBe("token_malformed");
  });

  it(`refuses a token over MAX_TOKEN_LENGTH (${MAX_TOKEN_LENGTH}) characters as token_malformed`, async () => {
    const token = await signPayload({ sub: "u", exp: now() + 60, pad: "x".repeat(MAX_TOKEN_LENGTH) });
    expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
    expect(await refusal(token)).toBe("token_malformed");
  });

  it("refuses an expired token as token_expired", async () => {
    expect(await refusal(await signToken({ ttl: -3600 }))).toBe("token_expired");
  });

  it("refuses a token expired just beyond the clock tolerance", async () => {
    expect(await refusal(await signToken({ ttl: -(CLOCK_TOLERANCE_SECONDS + 5) }))).toBe("token_expired");
  });

  it("refuses a token not yet valid beyond the clock tolerance", async () => {
    const token = await signPayload({ sub: "u", exp: now() + 600, nbf: now() + CLOCK_TOLERANCE_SECONDS + 60 });
    expect(await refusal(token)).toBe("claims_invalid");
  });

  it("refuses a token signed with another secret as signature_invalid", async () => {
    const token = await signToken({}, "another-secret-another-secret-0123456789");
    expect(await refusal(token)).toBe("signature_invalid");
  });

  it("refuses a token whose payload was altered after signing", async () => {
    const [header, , signature] = (await signToken({ sub: "user-1" })).split(".");
    const forged = `${header}.${base64url.encode(JSON.stringify({ sub: "admin", exp: now() + 3600 }))}.${signature}`;
    expect(await refusal(forged)).toBe("signature_invalid");
  });

  it('refuses alg "none" as algorithm_not_allowed', async () => {
    expect(await refusal(rawToken({ alg: "none", typ: "JWT" }, { sub: "u", exp: now() + 60 }))).toBe(
      "algorithm_not_allowed",
    );
  });

  it.each([["None"], ["NONE"], ["nOnE"]])('refuses alg %j (a spelling of "none")', async (alg) => {
    expect(await refusal(rawToken({ alg }, { sub: "u", exp: now() + 60 }))).toBe("algorithm_not_allowed");
  });

  it("refuses an HS256-labelled token without a signature", async () => {
    expect(await refusal(rawToken({ alg: "HS256" }, { sub: "u", exp: now() + 60 }))).toBe("signature_invalid");
  });

  it("refuses a token whose header has no alg", async () => {
    expect(await refusal(rawToken({ typ: "JWT" }, { sub: "u", exp: now() + 60 }, "c2ln"))).toBe(
      "algorithm_not_allowed",
    );
  });

  it.each([["HS384"], ["HS512"]])("refuses %s even though it is an HMAC with the same secret", async (alg) => {
    const token = await signPayload({ sub: "u", exp: now() + 60 }, { alg });
    expect(await refusal(token)).toBe("algorithm_not_allowed");
  });

  it.each([["RS256"], ["ES256"]])("refuses a valid %s token when no JWKS_URL is configured", async (alg) => {
    const { privateKey } = await generateKeyPair(alg);
    const token = await new SignJWT({ sub: "u" })
      .setProtectedHeader({ alg })
      .setExpirationTime(now() + 60)
      .sign(privateKey);
    expect(await refusal(token)).toBe("algorithm_not_allowed");
  });

  it("refuses an HS256 token as not_configured when no secret is set", async () => {
    const token = await signToken();
    expect(await refusal(token, { ...config, secret: undefined })).toBe("not_configured");
    expect(await refusal(token, { ...config, secret: "" })).toBe("not_configured");
  });

  it("refuses a token without exp", async () => {
    expect(await refusal(await signPayload({ sub: "u" }))).toBe("claims_invalid");
  });

  it("refuses a token without sub", async () => {
    expect(await refusal(await signPayload({ exp: now() + 60 }))).toBe("claims_invalid");
  });

  it.each([
    ["an empty sub", { sub: "" }],
    [`a sub over ${MAX_SUB_LENGTH} characters`, { sub: "u".repeat(MAX_SUB_LENGTH + 1) }],
    ["a numeric sub", { sub: 42 }],
    ["a fractional exp", { exp: now() + 60.5 }],
    ["a string exp", { exp: String(now() + 60) }],
    ["an email over 254 characters", { email: `${"e".repeat(250)}@x.example` }],
    ["an email that is a number", { email: 5 }],
    [`a scope over ${MAX_SCOPE_LENGTH} characters`, { scope: `edit ${"s".repeat(MAX_SCOPE_LENGTH)}` }],
    ["a scope that is a number", { scope: 1 }],
    ["a scope list holding a non-string", { scope: ["edit", 1] }],
    ["a scope list of more than 256 entries", { scope: Array.from({ length: 257 }, (_, i) => `s${i}`) }],
    ["resources that is a string", { resources: "fund:*" }],
  ] as [string, JWTPayload][])("refuses %s as claims_invalid", async (_label, claims) => {
    const token = await signPayload({ sub: "u", exp: now() + 60, ...claims });
    expect(await refusal(token)).toBe("claims_invalid");
  });

  it.each([
    ["a bare type", "fund"],
    ["an empty id", "fund:"],
    ["an empty type", ":fund_123"],
    ["an uppercase type", "Fund:fund_123"],
    ["a wildcard inside an id", "fund:fund_*"],
    ["a wildcard prefix", "fund:*_123"],
    ["a space in the id", "fund:fund 123"],
    ["an id starting with a colon", "fund::x"],
    ["a number", 5],
    [`over ${MAX_RESOURCE_PATTERN_LENGTH} characters`, `fund:${"x".repeat(MAX_RESOURCE_PATTERN_LENGTH)}`],
  ])("refuses a resource pattern that is %s as claims_invalid", async (_label, pattern) => {
    const token = await signPayload({ sub: "u", exp: now() + 60, resources: ["fund:ok", pattern] });
    expect(await refusal(token)).toBe("claims_invalid");
  });

  // Regression: an `exp` of 1e13 s was accepted; the refresh reply's date then threw (server_error)
  // after the socket had adopted the token, and the hub's alarm could not be set for it.
  it.each([
    ["1e13 seconds", 1e13],
    ["beyond what a Date can hold", 8.64e12 + 1],
    ["a year and a minute from now", now() + MAX_TOKEN_LIFETIME_SECONDS + 60],
    ["2^53", 2 ** 53],
  ])("refuses an exp of %s as claims_invalid (more than MAX_TOKEN_LIFETIME_SECONDS ahead)", async (_label, exp) => {
    expect(await refusal(await signPayload({ sub: "u", exp }))).toBe("claims_invalid");
  });

  it("accepts an exp just under MAX_TOKEN_LIFETIME_SECONDS ahead", async () => {
    const exp = now() + MAX_TOKEN_LIFETIME_SECONDS - 60;
    expect((await verifyToken(await signPayload({ sub: "u", exp }), config)).exp).toBe(exp);
  });

  it(`refuses more than ${MAX_RESOURCE_PATTERNS} resource patterns`, async () => {
    const resources = Array.from({ length: MAX_RESOURCE_PATTERNS + 1 }, (_, i) => `fund:f${i}`);
    expect(await refusal(await signToken({ resources }))).toBe("claims_invalid");
  });

  describe("with an issuer and audience configured", () => {
    const strict: AuthConfig = { ...config, issuer: "https://issuer.example", audience: "realtime-edge" };

    it("refuses a token without iss", async () => {
      expect(await refusal(await signToken({ aud: "realtime-edge" }), strict)).toBe("claims_invalid");
    });

    it("refuses a token from another issuer", async () => {
      expect(await refusal(await signToken({ iss: "https://evil.example", aud: "realtime-edge" }), strict)).toBe(
        "claims_invalid",
      );
    });

    it("refuses a token without aud", async () => {
      expect(await refusal(await signToken({ iss: "https://issuer.example" }), strict)).toBe("claims_invalid");
    });

    it("refuses a token for another audience", async () => {
      expect(await refusal(await signToken({ iss: "https://issuer.example", aud: "other-service" }), strict)).toBe(
        "claims_invalid",
      );
    });
  });
});

describe("verifyToken: RS256 / ES256 through a JWKS_URL", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  let urlCount = 0;
  /** A JWKS URL not used before: the module caches one key set per URL. */
  const freshJwksUrl = () => `https://keys.example/${crypto.randomUUID()}/${urlCount++}/jwks.json`;

  async function keyPair(alg: "RS256" | "ES256", kid: string) {
    const { privateKey, publicKey } = await generateKeyPair(alg);
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    return { privateKey, jwk };
  }

  function signWith(privateKey: CryptoKey, alg: string, kid: string, payload: JWTPayload = { sub: "remote-user" }) {
    return new SignJWT(payload)
      .setProtectedHeader({ alg, kid })
      .setExpirationTime(now() + 60)
      .sign(privateKey);
  }

  function serveJwks(response: () => Response | Promise<Response>): string[] {
    const requested: string[] = [];
    vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
      requested.push(input instanceof Request ? input.url : String(input));
      return response();
    });
    return requested;
  }

  it.each([["RS256" as const], ["ES256" as const]])("accepts a %s token signed by a key of the set", async (alg) => {
    const { privateKey, jwk } = await keyPair(alg, "k1");
    const requested = serveJwks(() => Response.json({ keys: [jwk] }));
    const jwksUrl = freshJwksUrl();
    const principal = await verifyToken(await signWith(privateKey, alg, "k1"), { ...config, jwksUrl });
    expect(principal.sub).toBe("remote-user");
    expect(requested).toEqual([jwksUrl]);
  });

  it("still accepts HS256 tokens with the secret when a JWKS_URL is set, without fetching keys", async () => {
    const requested = serveJwks(() => Response.json({ keys: [] }));
    const principal = await verifyToken(await signToken(), { ...config, jwksUrl: freshJwksUrl() });
    expect(principal.sub).toBe("user-123");
    expect(requested).toEqual([]);
  });

  it("refuses a token signed by another key under a known kid as signature_invalid", async () => {
    const { jwk } = await keyPair("RS256", "k1");
    const other = await keyPair("RS256", "k1");
    serveJwks(() => Response.json({ keys: [jwk] }));
    const token = await signWith(other.privateKey, "RS256", "k1");
    expect(await refusal(token, { ...config, jwksUrl: freshJwksUrl() })).toBe("signature_invalid");
  });

  it("refuses a token whose kid is not in the set as signature_invalid", async () => {
    const { jwk } = await keyPair("RS256", "k1");
    const other = await keyPair("RS256", "k2");
    serveJwks(() => Response.json({ keys: [jwk] }));
    const token = await signWith(other.privateKey, "RS256", "k2");
    expect(await refusal(token, { ...config, jwksUrl: freshJwksUrl() })).toBe("signature_invalid");
  });

  it("refuses PS256 even with a JWKS_URL", async () => {
    const { privateKey } = await generateKeyPair("PS256");
    const requested = serveJwks(() => Response.json({ keys: [] }));
    const token = await signWith(privateKey, "PS256", "k1");
    expect(await refusal(token, { ...config, jwksUrl: freshJwksUrl() })).toBe("algorithm_not_allowed");
    expect(requested).toEqual([]);
  });

  it("refuses an expired RS256 token as token_expired", async () => {
    const { privateKey, jwk } = await keyPair("RS256", "k1");
    serveJwks(() => Response.json({ keys: [jwk] }));
    const token = await new SignJWT({ sub: "u" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setExpirationTime(now() - 3600)
      .sign(privateKey);
    expect(await refusal(token, { ...config, jwksUrl: freshJwksUrl() })).toBe("token_expired");
  });

  it("refuses an RS256 token without sub as claims_invalid", async () => {
    const { privateKey, jwk } = await keyPair("RS256", "k1");
    serveJwks(() => Response.json({ keys: [jwk] }));
    const token = await signWith(privateKey, "RS256", "k1", {});
    expect(await refusal(token, { ...config, jwksUrl: freshJwksUrl() })).toBe("claims_invalid");
  });

  /** What verification throws for a server-side key problem: a 503, not the client's fault. */
  async function keyFailure(token: string, jwksUrl: string): Promise<ProtocolError> {
    try {
      await verifyToken(token, { ...config, jwksUrl });
    } catch (error) {
      if (error instanceof ProtocolError) return error;
      throw error;
    }
    throw new Error("expected the token to be refused");
  }

  function expectKeyUnavailable(error: ProtocolError): void {
    expect({ code: error.code, status: error.status, reason: error.details?.reason }).toEqual({
      code: "server_error",
      status: 503,
      reason: "key_unavailable",
    });
  }

  it("reports a key set that is not a JWK set as key_unavailable (503)", async () => {
    const { privateKey } = await keyPair("RS256", "k1");
    serveJwks(() => Response.json({ not: "a key set" }));
    expectKeyUnavailable(await keyFailure(await signWith(privateKey, "RS256", "k1"), freshJwksUrl()));
  });

  // Regression (fixed in src/auth/verify-token.ts): a JWKS endpoint answering 500 makes jose throw a
  // generic JOSEError (code ERR_JOSE_GENERIC), which falls to the default branch: the outage is
  // reported as the client's "authentication_error"/"token_malformed" (401) instead of key_unavailable (503).
  it("reports a JWKS endpoint answering 500 as key_unavailable (503), not as a malformed token", async () => {
    const { privateKey } = await keyPair("RS256", "k1");
    serveJwks(() => new Response("upstream down", { status: 500 }));
    expectKeyUnavailable(await keyFailure(await signWith(privateKey, "RS256", "k1"), freshJwksUrl()));
  });

  // Regression (fixed in src/auth/verify-token.ts): a network failure while fetching the JWKS is a plain
  // TypeError, not a JOSEError, so it is reported as "authentication_error"/"token_malformed" (401)
  // instead of key_unavailable (503).
  it("reports a JWKS fetch that fails on the network as key_unavailable (503), not as a malformed token", async () => {
    const { privateKey } = await keyPair("RS256", "k1");
    serveJwks(() => {
      throw new TypeError("Network connection lost.");
    });
    expectKeyUnavailable(await keyFailure(await signWith(privateKey, "RS256", "k1"), freshJwksUrl()));
  });
});

describe("authConfigFromEnv", () => {
  it("reads the four bindings", () => {
    expect(
      authConfigFromEnv({
        JWT_SECRET: "s",
        JWKS_URL: "https://keys.example/jwks.json",
        JWT_ISSUER: "iss",
        JWT_AUDIENCE: "aud",
      }),
    ).toEqual({ secret: "s", jwksUrl: "https://keys.example/jwks.json", issuer: "iss", audience: "aud" });
  });

  it("treats empty and missing bindings as unset", () => {
    const unset = { secret: undefined, jwksUrl: undefined, issuer: undefined, audience: undefined };
    expect(authConfigFromEnv({})).toEqual(unset);
    expect(authConfigFromEnv({ JWT_SECRET: "", JWKS_URL: "", JWT_ISSUER: "", JWT_AUDIENCE: "" })).toEqual(unset);
  });
});

describe("tokenFromRequest", () => {
  it("reads a Bearer token from the Authorization header, case-insensitively", () => {
    for (const header of ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER   abc.def.ghi  "]) {
      const request = new Request("https://edge.example/v1/ws", { headers: { Authorization: header } });
      expect(tokenFromRequest(request)).toBe("abc.def.ghi");
    }
  });

  it("reads the token query parameter", () => {
    expect(tokenFromRequest(new Request("https://edge.example/v1/ws?token=abc.def.ghi"))).toBe("abc.def.ghi");
  });

  it("prefers the Authorization header over the query parameter", () => {
    const request = new Request("https://edge.example/v1/ws?token=from-query", {
      headers: { Authorization: "Bearer from-header" },
    });
    expect(tokenFromRequest(request)).toBe("from-header");
  });

  it("returns null without either", () => {
    expect(tokenFromRequest(new Request("https://edge.example/v1/ws"))).toBeNull();
  });

  it("ignores an Authorization header that is not a single Bearer token", () => {
    for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"]) {
      const bare = new Request("https://edge.example/v1/ws", { headers: { Authorization: header } });
      expect(tokenFromRequest(bare)).toBeNull();
      const withQuery = new Request("https://edge.example/v1/ws?token=from-query", {
        headers: { Authorization: header },
      });
      expect(tokenFromRequest(withQuery)).toBe("from-query");
    }
  });
});

describe("bearerToken", () => {
  it("reads only the Authorization header, never the query (the ingest route)", () => {
    const request = new Request("https://edge.example/v1/ingest?token=from-query", {
      headers: { Authorization: "Bearer from-header" },
    });
    expect(bearerToken(request)).toBe("from-header");
    expect(bearerToken(new Request("https://edge.example/v1/ingest?token=from-query"))).toBeNull();
  });

  it("returns null for a non-Bearer scheme", () => {
    const request = new Request("https://edge.example/v1/ingest", { headers: { Authorization: "Basic abc" } });
    expect(bearerToken(request)).toBeNull();
  });
});
