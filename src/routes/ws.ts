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
import { hubPlacement, parseShardCount } from "../hub/shard";
import { HUB_NAME_HEADER } from "../internal-headers";
import { encodeError } from "../protocol/equihome/codec";
import { CLOSE_CODES, ProtocolError } from "../protocol/errors";
import { refusedSocket } from "../socket-host/refused-socket";
import { checkOrigin } from "./origin";
import { forwardUpgrade, requireUpgrade } from "./upgrade";

export const wsRoutes = new Hono<{ Bindings: Env }>();

wsRoutes.get("/v1/ws", async (c) => {
  const notUpgrade = requireUpgrade(c);
  if (notUpgrade) return notUpgrade;
  checkOrigin(c.req.raw, c.env.ALLOWED_ORIGINS);
  let principal: Principal;
  try {
    principal = await verifyToken(tokenFromRequest(c.req.raw), authConfigFromEnv(c.env));
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "authentication_error") {
      return refusedSocket(CLOSE_CODES.authentication_failed, "authentication failed", encodeError(error));
    }
    throw error;
  }
  const continent = (c.req.raw.cf as { continent?: string } | undefined)?.continent;
  const placement = hubPlacement(principal.sub, continent, parseShardCount(c.env.HUB_SHARDS));
  const hub = c.env.HUB.getByName(
    placement.name,
    placement.locationHint ? { locationHint: placement.locationHint } : {},
  );
  return forwardUpgrade(c.req.raw, hub, principal, { [HUB_NAME_HEADER]: placement.name });
});
