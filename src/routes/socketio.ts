/**
 * `/socket.io/`: Engine.IO v4 / Socket.IO v5 for QuantEnergx clients, polling and WebSocket.
 * The Worker checks the origin, the protocol version and transport, then routes to a Socket.IO
 * hub: a handshake to one near the client (a random shard: no user is known yet), everything
 * else by the session id, which names its hub. Authentication happens inside the session
 * (`authenticate`, or the CONNECT auth payload), as the QuantEnergx seed does it.
 */
import { type Context, Hono, type Next } from "hono";
import { cors } from "hono/cors";
import type { Env } from "../env";
import { parseShardCount, sioHubOfSessionId, socketIoHubPlacement } from "../hub/shard";
import { engineError } from "../hub/socketio/engine-io";
import { HUB_NAME_HEADER } from "../internal-headers";
import { ProtocolError } from "../protocol/errors";
import { checkOrigin } from "./origin";

export const socketIoRoutes = new Hono<{ Bindings: Env }>();

/**
 * Polling from a browser on another origin needs CORS. The origin has been checked before, so
 * whatever origin reaches this is allowed: it is echoed (with credentials, as socket.io does).
 */
const pollingCors = cors({
  origin: (origin) => origin || null,
  credentials: true,
  allowMethods: ["GET", "POST", "OPTIONS"],
  allowHeaders: ["Content-Type"],
  maxAge: 600,
});

/**
 * A disallowed origin gets Engine.IO's 403 Forbidden, without CORS headers. WebSocket upgrades
 * are not subject to CORS: their 101 goes out untouched.
 */
async function gate(c: Context<{ Bindings: Env }>, next: Next): Promise<Response | undefined> {
  try {
    checkOrigin(c.req.raw, c.env.ALLOWED_ORIGINS);
  } catch (error) {
    if (error instanceof ProtocolError) return engineError("forbidden");
    throw error;
  }
  if (c.req.header("Upgrade")?.toLowerCase() === "websocket") {
    await next();
    return undefined;
  }
  return (await pollingCors(c, next)) ?? undefined;
}

async function engineIo(c: Context<{ Bindings: Env }>): Promise<Response> {
  const request = c.req.raw;
  const url = new URL(request.url);
  if (url.searchParams.get("EIO") !== "4") return engineError("unsupported_protocol_version");
  const transport = url.searchParams.get("transport");
  if (transport !== "polling" && transport !== "websocket") return engineError("transport_unknown");
  const shards = parseShardCount(c.env.HUB_SHARDS);
  const sid = url.searchParams.get("sid");
  let hubName: string;
  let locationHint: DurableObjectLocationHint | undefined;
  if (sid === null) {
    if (request.method !== "GET") return engineError("bad_handshake_method");
    const continent = (request.cf as { continent?: string } | undefined)?.continent;
    ({ name: hubName, locationHint } = socketIoHubPlacement(continent, shards, Math.random()));
  } else {
    const hub = sioHubOfSessionId(sid, shards);
    if (hub === null) return engineError("session_id_unknown");
    hubName = hub;
  }
  const headers = new Headers(request.headers);
  headers.set(HUB_NAME_HEADER, hubName);
  const stub = c.env.SIO_HUB.getByName(hubName, locationHint ? { locationHint } : {});
  return stub.fetch(new Request(request, { headers }));
}

for (const path of ["/socket.io/", "/socket.io"]) {
  socketIoRoutes.use(path, gate);
  socketIoRoutes.all(path, engineIo);
}
