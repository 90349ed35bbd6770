/**
 * The Hono app: routes, and the one place errors become HTTP responses. No logger middleware:
 * URLs carry tokens (`/v1/ws?token=`), and tokens are never written to logs.
 */
import { Hono } from "hono";
import type { Env } from "./env";
import { ProtocolError, toProtocolError } from "./protocol/errors";
import { adminRoutes } from "./routes/admin";
import { dashboardRoutes } from "./routes/dashboard";
import { devTokenRoutes } from "./routes/dev-tokens";
import { documentRoutes } from "./routes/documents";
import { errorResponse } from "./routes/http-errors";
import { ingestRoutes } from "./routes/ingest";
import { openApiRoutes } from "./routes/openapi";
import { socketIoRoutes } from "./routes/socketio";
import { wsRoutes } from "./routes/ws";

export const app = new Hono<{ Bindings: Env }>();

app.get("/healthz", (c) => c.json({ status: "ok" }));
app.route("/", wsRoutes);
app.route("/", ingestRoutes);
app.route("/", documentRoutes);
app.route("/", socketIoRoutes);
app.route("/", openApiRoutes);
app.route("/", adminRoutes);
app.route("/", devTokenRoutes);
app.route("/", dashboardRoutes);

app.notFound((c) =>
  errorResponse(
    c,
    new ProtocolError("resource_not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  ),
);

app.onError((error, c) => {
  const refusal = toProtocolError(error);
  if (refusal.code === "server_error") console.error(`${c.req.method} ${new URL(c.req.url).pathname} failed`, error);
  return errorResponse(c, refusal);
});
