/**
 * `POST /v1/dev/token` (src/routes/dev-tokens.ts), the dashboard's development-only token helper.
 * Off unless the DEV_TOKENS binding is "on": the Workers tests read wrangler.jsonc, as
 * `wrangler deploy` does, and must see it off. On (as `npm run dev` sets it), it mints
 * short-lived tokens that the service accepts, for same-origin callers only.
 */
import { env, exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { authConfigFromEnv, verifyToken } from "../../src/auth/verify-token";

const URL_ = "http://edge.test/v1/dev/token";
const post = (body: unknown, headers: Record<string, string> = {}) =>
  new Request(URL_, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
/** The Worker with DEV_TOKENS on, as under `npm run dev`. */
const devOn = (request: Request) =>
  app.fetch(request, { ...env, DEV_TOKENS: "on" }, { waitUntil() {}, passThroughOnException() {}, props: {} });

describe("POST /v1/dev/token", () => {
  it("is off by default: not in wrangler.jsonc, answered as an unknown route", async () => {
    expect(env.DEV_TOKENS).toBeUndefined();
    const response = await exports.default.fetch(post({ sub: "x", scope: "admin" }));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: "resource_not_found", message: "No route for POST /v1/dev/token" },
    });
    // Any other value is off too.
    const other = await app.fetch(
      post({}),
      { ...env, DEV_TOKENS: "true" },
      {
        waitUntil() {},
        passThroughOnException() {},
        props: {},
      },
    );
    expect(other.status).toBe(404);
  });

  it("on, mints a short-lived token the service accepts, with the asked scopes", async () => {
    const before = Math.floor(Date.now() / 1000);
    const response = await devOn(post({ sub: "ann", email: "ann@dashboard.local", scope: "edit admin" }));
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const body = (await response.json()) as { token: string; sub: string; scope: string; expires_at: string };
    expect(body).toMatchObject({ sub: "ann", scope: "edit admin", dev_only: true });
    const principal = await verifyToken(body.token, authConfigFromEnv(env));
    expect(principal).toMatchObject({ sub: "ann", email: "ann@dashboard.local", scopes: ["edit", "admin"] });
    const { exp } = decodeJwt(body.token);
    expect(exp).toBeGreaterThanOrEqual(before + 900);
    expect(exp).toBeLessThanOrEqual(before + 901 + 2);
    expect(Date.parse(body.expires_at) / 1000).toBe(exp);
  });

  it("on, defaults to sub dashboard with no scope; a same-origin Origin passes", async () => {
    const response = await devOn(new Request(URL_, { method: "POST", headers: { Origin: "http://edge.test" } }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string };
    expect(await verifyToken(body.token, authConfigFromEnv(env))).toMatchObject({ sub: "dashboard", scopes: [] });
  });

  it("on, refuses another site's page, unknown scopes, long lives and bad bodies", async () => {
    const cross = await devOn(post({}, { Origin: "https://evil.example" }));
    expect(cross.status).toBe(403);
    expect(await cross.json()).toMatchObject({ error: { code: "authorization_error" } });
    for (const body of [
      { scope: "root" },
      { ttl: 86_400 },
      { ttl: 1.5 },
      { sub: "" },
      { sub: "x", extra: 1 },
      "{not json",
      [1],
    ]) {
      const response = await devOn(post(body));
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: "invalid_message" } });
    }
  });
});
