/** What every WebSocket route shares: the 426 check and the hand-off to a DO. */
import type { Context } from "hono";
import type { Principal } from "../auth/principal";
import { PRINCIPAL_HEADER } from "../internal-headers";

/** The 426 answer to a request without `Upgrade: websocket`, or null when it is an upgrade. */
export function requireUpgrade(c: Context): Response | null {
  if (c.req.header("Upgrade")?.toLowerCase() === "websocket") return null;
  return c.json({ error: { code: "invalid_message", message: "Expected a WebSocket upgrade" } }, 426, {
    Upgrade: "websocket",
  });
}

/**
 * Hands an authenticated upgrade to a Durable Object, with the principal and `extra` headers set
 * by the Worker. The token stays behind: neither the query nor the header reaches the object.
 */
export function forwardUpgrade(
  request: Request,
  target: { fetch(request: Request): Promise<Response> },
  principal: Principal,
  extra: Record<string, string>,
): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.set(PRINCIPAL_HEADER, JSON.stringify(principal));
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  headers.delete("Authorization");
  const url = new URL(request.url);
  url.searchParams.delete("token");
  return target.fetch(new Request(url, { headers }));
}
