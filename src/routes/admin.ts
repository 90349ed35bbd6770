/**
 * `GET /v1/admin/stats`: hubs, open sockets and Socket.IO sessions, topics and their delivery
 * lag, read from the Durable Objects on request (src/ops/stats.ts). Needs a token with the
 * `admin` scope, in `Authorization: Bearer` only (a URL can end up in logs).
 */
import { Hono } from "hono";
import { hasScope } from "../auth/principal";
import { authConfigFromEnv, bearerToken, verifyToken } from "../auth/verify-token";
import type { Env } from "../env";
import { parseShardCount } from "../hub/shard";
import { collectStats, parseStatsQuery, regionOf } from "../ops/stats";
import { ProtocolError } from "../protocol/errors";

export const adminRoutes = new Hono<{ Bindings: Env }>();

adminRoutes.get("/v1/admin/stats", async (c) => {
  const principal = await verifyToken(bearerToken(c.req.raw), authConfigFromEnv(c.env));
  if (!hasScope(principal, "admin")) {
    throw new ProtocolError("authorization_error", "The token lacks the admin scope", { details: { scope: "admin" } });
  }
  const continent = (c.req.raw.cf as { continent?: string } | undefined)?.continent;
  const query = parseStatsQuery(
    new URL(c.req.url).searchParams,
    parseShardCount(c.env.HUB_SHARDS),
    regionOf(continent),
  );
  const stats = await collectStats(c.env, query);
  return c.json(stats, 200, { "Cache-Control": "no-store" });
});
