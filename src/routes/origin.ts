import { ProtocolError } from "../protocol/errors";

/**
 * `ALLOWED_ORIGINS`: when set, a WebSocket upgrade whose `Origin` is present and not listed is
 * refused. Requests without `Origin` (servers, native clients) are not browsers and pass.
 */
export function checkOrigin(request: Request, allowed: string | undefined): void {
  if (!allowed) return;
  const origin = request.headers.get("Origin");
  if (origin === null) return;
  const list = allowed
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (!list.includes(origin)) {
    throw new ProtocolError("authorization_error", "Origin not allowed", { details: { origin } });
  }
}
