/**
 * The document routes: `GET /v1/yjs/:resource_type/:resource_id` for y-websocket editors, and
 * `GET /v1/resources/:resource_type/:resource_id` for the document as JSON.
 */
import { Hono } from "hono";
import * as v from "valibot";
import { canAccess, type Principal } from "../auth/principal";
import { authConfigFromEnv, tokenFromRequest, verifyToken } from "../auth/verify-token";
import type { Env } from "../env";
import { DOCUMENT_NAME_HEADER } from "../internal-headers";
import { documentName, isEditableResourceType, type ResourceRef } from "../protocol/equihome/editing";
import { CLOSE_CODES, ProtocolError } from "../protocol/errors";
import { IdSchema } from "../protocol/schemas";
import { refusedSocket } from "../socket-host/refused-socket";
import { checkOrigin } from "./origin";
import { forwardUpgrade, requireUpgrade } from "./upgrade";

export const documentRoutes = new Hono<{ Bindings: Env }>();

function resourceFrom(type: string, id: string): ResourceRef {
  const parsed = v.safeParse(IdSchema, id);
  if (!isEditableResourceType(type) || !parsed.success) {
    throw new ProtocolError("resource_not_found", `No editable resource ${type}/${id}`);
  }
  return { resource_type: type, resource_id: parsed.output };
}

function authorize(principal: Principal, ref: ResourceRef): void {
  if (!canAccess(principal, ref.resource_type, ref.resource_id)) {
    throw new ProtocolError("authorization_error", "Insufficient permissions", {
      details: { resource: `${ref.resource_type}:${ref.resource_id}` },
    });
  }
}

documentRoutes.get("/v1/resources/:resource_type/:resource_id", async (c) => {
  const ref = resourceFrom(c.req.param("resource_type"), c.req.param("resource_id"));
  const principal = await verifyToken(tokenFromRequest(c.req.raw), authConfigFromEnv(c.env));
  authorize(principal, ref);
  const { exists, document } = await c.env.DOCUMENT.getByName(documentName(ref)).read(ref);
  if (!exists) throw new ProtocolError("resource_not_found", `${ref.resource_type} ${ref.resource_id} has no document`);
  return c.json({ ...ref, document });
});

documentRoutes.get("/v1/yjs/:resource_type/:resource_id", async (c) => {
  const notUpgrade = requireUpgrade(c);
  if (notUpgrade) return notUpgrade;
  const ref = resourceFrom(c.req.param("resource_type"), c.req.param("resource_id"));
  checkOrigin(c.req.raw, c.env.ALLOWED_ORIGINS);
  let principal: Principal;
  try {
    principal = await verifyToken(tokenFromRequest(c.req.raw), authConfigFromEnv(c.env));
    authorize(principal, ref);
  } catch (error) {
    // As on /v1/ws: upgrade, then say why in the close (4401 no valid token, 4403 not allowed).
    if (error instanceof ProtocolError && error.code === "authentication_error") {
      return refusedSocket(CLOSE_CODES.authentication_failed, error.message);
    }
    if (error instanceof ProtocolError && error.code === "authorization_error") {
      return refusedSocket(CLOSE_CODES.forbidden, error.message);
    }
    throw error;
  }
  const name = documentName(ref);
  return forwardUpgrade(c.req.raw, c.env.DOCUMENT.getByName(name), principal, { [DOCUMENT_NAME_HEADER]: name });
});
