/**
 * `GET /v1/ws`: the Equihome JSON protocol. The Worker authenticates, then hands the upgrade
 * to the hub that holds the user's sockets. Without a valid token the upgrade still succeeds:
 * the socket gets one `authentication_error` and close 4401, as browsers cannot read a refused
 * upgrade's status.
 */
import { Hono } from "hono";
import type { Principal } from "../auth/principal";
import { authConfigFromEnv, tokenFromRequest, verifyToken } from "../auth/verify-token";
import type { Env } from "../env";
import { HUB_NAME_HEADER, PRINCIPAL_HEADER } from "../hub/hub-durable-object";
import { hubPlacement, parseShardCount } from "../hub/shard";
import { encodeError } from "../protocol/equihome/codec";
import { CLOSE_CODES, ProtocolError } from "../protocol/errors";
import { errorResponse } from "./http-errors";
import { checkOrigin } from "./origin";

export const wsRoutes = new Hono<{ Bindings: Env }>();

wsRoutes.get("/v1/ws", async (c) => {
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    return c.json({ error: { code: "invalid_message", message: "Expected a WebSocket upgrade" } }, 426, {
      Upgrade: "websocket",
    });
  }
  try {
    checkOrigin(c.req.raw, c.env.ALLOWED_ORIGINS);
  } catch (error) {
    return errorResponse(c, error as ProtocolError);
  }
  let principal: Principal;
  try {
    principal = await verifyToken(tokenFromRequest(c.req.raw), authConfigFromEnv(c.env));
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "authentication_error") return refusedSocket(error);
    throw error;
  }
  const continent = (c.req.raw.cf as { continent?: string } | undefined)?.continent;
  const placement = hubPlacement(principal.sub, continent, parseShardCount(c.env.HUB_SHARDS));
  const hub = c.env.HUB.getByName(
    placement.name,
    placement.locationHint ? { locationHint: placement.locationHint } : {},
  );
  const headers = new Headers(c.req.raw.headers);
  headers.set(HUB_NAME_HEADER, placement.name);
  headers.set(PRINCIPAL_HEADER, JSON.stringify(principal));
  headers.delete("Authorization");
  // The token stays out of what the hub sees and could log.
  const url = new URL(c.req.url);
  url.searchParams.delete("token");
  return hub.fetch(new Request(url, { headers }));
});

/** A socket that says why it is refused, then closes with 4401. */
function refusedSocket(error: ProtocolError): Response {
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  server.accept();
  server.send(encodeError(error));
  server.close(CLOSE_CODES.authentication_failed, "authentication failed");
  return new Response(null, { status: 101, webSocket: client });
}
