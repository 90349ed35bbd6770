/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP routes (protocol/openapi.ts). No
 * token needed. Built on the first request of an isolate and kept: the schemas never change
 * while it lives.
 */
import { Hono } from "hono";
import type { Env } from "../env";
import { buildOpenApiDocument, OPENAPI_PATH } from "../protocol/openapi";

export const openApiRoutes = new Hono<{ Bindings: Env }>();

let body: string | undefined;

openApiRoutes.get(OPENAPI_PATH, (c) => {
  body ??= JSON.stringify(buildOpenApiDocument().document);
  return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
});
