/**
 * `GET /` (and `/index.html`, `/app.js`, `/style.css`): the live dashboard (dashboard/), built by
 * scripts/build-dashboard.mjs into a module of strings that wrangler bundles with the Worker
 * (the "realtime-edge:dashboard" alias). No token: the page asks for one. Served by the Worker
 * rather than as Workers static assets, which would put an asset router in front of every
 * request and every WebSocket frame (see the build script).
 */
import files from "realtime-edge:dashboard";
import { Hono } from "hono";
import type { Env } from "../env";

export const dashboardRoutes = new Hono<{ Bindings: Env }>();

dashboardRoutes.get("/", (c) => serve(c.req.raw, "/index.html"));
dashboardRoutes.get("/:file{(index\\.html|app\\.js|style\\.css)}", (c) => serve(c.req.raw, `/${c.req.param("file")}`));

function serve(request: Request, name: string): Response {
  const file = files[name];
  if (!file) return new Response("not built", { status: 404 });
  if (request.method === "HEAD") return new Response(null, { headers: { "Content-Type": file.type } });
  // no-cache: revalidated on every load, so a rebuilt dashboard is seen at once in development.
  return new Response(file.body, { headers: { "Content-Type": file.type, "Cache-Control": "no-cache" } });
}
