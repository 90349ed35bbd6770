/**
 * `POST /v1/dev/token`: DEVELOPMENT ONLY. Mints a short-lived HS256 token with the local
 * JWT_SECRET so that the dashboard works with no setup. It exists only when the `DEV_TOKENS`
 * binding is "on", which only `npm run dev` sets (`wrangler dev --var DEV_TOKENS:on`): it is not
 * in wrangler.jsonc, so `wrangler deploy` and the tests never have it unless they ask. Off, the
 * route answers exactly as an unknown route does (404).
 *
 * Even on, it answers only same-origin callers: a request whose `Origin` is another site's is
 * refused (and no CORS header is ever sent, so another site's page could not read a token).
 */
import { Hono } from "hono";
import { SignJWT } from "jose";
import * as v from "valibot";
import { MAX_EMAIL_LENGTH, MAX_SUB_LENGTH } from "../auth/claims";
import { KNOWN_SCOPES } from "../auth/principal";
import type { Env } from "../env";
import { ProtocolError } from "../protocol/errors";
import { describeIssues } from "../protocol/schemas";
import { readBodyLimited } from "./body";

export const devTokenRoutes = new Hono<{ Bindings: Env }>();

/** Dev tokens live 15 minutes by default, at most an hour: a client refreshes them. */
export const DEV_TOKEN_TTL_SECONDS = 900;
export const MAX_DEV_TOKEN_TTL_SECONDS = 3600;

const DevTokenRequestSchema = v.strictObject({
  sub: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SUB_LENGTH)), "dashboard"),
  email: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_EMAIL_LENGTH))),
  /** Space-separated, each one of KNOWN_SCOPES. */
  scope: v.optional(
    v.pipe(
      v.string(),
      v.maxLength(64),
      v.check(
        (scope) => scope.split(" ").every((s) => s === "" || (KNOWN_SCOPES as readonly string[]).includes(s)),
        `each scope is one of ${KNOWN_SCOPES.join(", ")}`,
      ),
    ),
    "",
  ),
  ttl: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(MAX_DEV_TOKEN_TTL_SECONDS)),
    DEV_TOKEN_TTL_SECONDS,
  ),
});

export function devTokensEnabled(env: Env): boolean {
  return env.DEV_TOKENS === "on";
}

devTokenRoutes.post("/v1/dev/token", async (c) => {
  if (!devTokensEnabled(c.env)) {
    throw new ProtocolError("resource_not_found", `No route for POST ${new URL(c.req.url).pathname}`);
  }
  const origin = c.req.header("Origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    throw new ProtocolError("authorization_error", "Dev tokens are for same-origin pages only", {
      details: { origin: origin.slice(0, 256) },
    });
  }
  const secret = c.env.JWT_SECRET;
  if (!secret) {
    throw new ProtocolError("server_error", "JWT_SECRET is not set", {
      status: 503,
      details: { reason: "not_configured" },
    });
  }
  const text = await readBodyLimited(c.req.raw, 4096);
  let body: unknown;
  try {
    body = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    throw new ProtocolError("invalid_message", "Body is not valid JSON");
  }
  const parsed = v.safeParse(DevTokenRequestSchema, body);
  if (!parsed.success) {
    throw new ProtocolError("invalid_message", "Invalid dev token request", {
      details: { issues: describeIssues(parsed.issues) },
    });
  }
  const { sub, email, scope, ttl } = parsed.output;
  const scopes = [...new Set(scope.split(" ").filter(Boolean))].join(" ");
  const exp = Math.floor(Date.now() / 1000) + ttl;
  const token = await new SignJWT({ scope: scopes, ...(email ? { email } : {}), dev: true })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
  return c.json({ token, sub, scope: scopes, expires_at: new Date(exp * 1000).toISOString(), dev_only: true }, 200, {
    "Cache-Control": "no-store",
  });
});
