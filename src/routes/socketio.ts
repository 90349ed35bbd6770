/**
 * `/socket.io/`: Engine.IO v4 / Socket.IO v5 for QuantEnergx clients, polling and WebSocket.
 * The Worker checks the protocol version and transport, then routes: a handshake to a Socket.IO
 * hub near the client (a random shard: no user is known yet), everything else by the session id,
 * which names its hub. Authentication happens inside the session (`authenticate`, or the CONNECT
 * auth payload), as the QuantEnergx seed does it.
 */
import { type Context, Hono } from "hono";
import type { Env } from "../env";
import { parseShardCount, sioHubOfSessionId, socketIoHubPlacement } from "../hub/shard";
import { engineError } from "../hub/socketio/engine-io";
import { HUB_NAME_HEADER } from "../internal-headers";
import { ProtocolError } from "../protocol/errors";
import { checkOrigin } from "./origin";

export const socketIoRoutes = new Hono<{ Bindings: Env }>();

async function engineIo(c: Context<{ Bindings: Env }>): Promise<Response> {
  const request = c.req.raw;
  const origin = request.headers.get("Origin");
  try {
    checkOrigin(request, c.env.ALLOWED_ORIGINS);
  } catch (error) {
    if (error instanceof ProtocolError) return engineError("forbidden");
    throw error;
  }
  if (request.method === "OPTIONS") return withCors(new Response(null, { status: 204 }), origin, true);
  const url = new URL(request.url);
  if (url.searchParams.get("EIO") !== "4") return withCors(engineError("unsupported_protocol_version"), origin);
  const transport = url.searchParams.get("transport");
  if (transport !== "polling" && transport !== "websocket") return withCors(engineError("transport_unknown"), origin);
  const shards = parseShardCount(c.env.HUB_SHARDS);
  const sid = url.searchParams.get("sid");
  let hubName: string;
  let locationHint: DurableObjectLocationHint | undefined;
  if (sid === null) {
    if (request.method !== "GET") return withCors(engineError("bad_handshake_method"), origin);
    const continent = (request.cf as { continent?: string } | undefined)?.continent;
    ({ name: hubName, locationHint } = socketIoHubPlacement(continent, shards, Math.random()));
  } else {
    const hub = sioHubOfSessionId(sid, shards);
    if (hub === null) return withCors(engineError("session_id_unknown"), origin);
    hubName = hub;
  }
  const headers = new Headers(request.headers);
  headers.set(HUB_NAME_HEADER, hubName);
  const stub = c.env.SIO_HUB.getByName(hubName, locationHint ? { locationHint } : {});
  const response = await stub.fetch(new Request(request, { headers }));
  return response.status === 101 ? response : withCors(response, origin);
}

/** Polling from a browser on another origin needs CORS; the origin check has already passed. */
function withCors(response: Response, origin: string | null, preflight = false): Response {
  if (origin === null) return response;
  const headers = new Headers(response.headers);
  headers.set("Access-Control-Allow-Origin", origin);
  headers.set("Access-Control-Allow-Credentials", "true");
  headers.set("Vary", "Origin");
  if (preflight) {
    headers.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    headers.set("Access-Control-Allow-Headers", "Content-Type");
    headers.set("Access-Control-Max-Age", "600");
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

socketIoRoutes.all("/socket.io/", engineIo);
socketIoRoutes.all("/socket.io", engineIo);
