/** How refusals look over HTTP: a status and `{"error": {"code", "message", "details"?}}`. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ProtocolError } from "../protocol/errors";

export function errorResponse(c: Context, error: ProtocolError): Response {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details !== undefined) body.details = error.details;
  return c.json({ error: body }, error.status as ContentfulStatusCode);
}
