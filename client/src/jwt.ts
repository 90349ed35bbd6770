/**
 * Reads a JWT's `exp` without verifying the token: the client only needs to know when to ask its
 * token provider for a new one. The server verifies every token it receives.
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (char) => char.charCodeAt(0)));
    const claims: unknown = JSON.parse(json);
    if (typeof claims !== "object" || claims === null) return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires at `exp` (seconds since the epoch):
 * a fifth of its remaining life before expiry, at most `marginMs` before it, and never sooner
 * than `minDelayMs` (a provider that keeps returning stale tokens must not spin).
 */
export function refreshDelay(exp: number, nowMs: number, marginMs = 60_000, minDelayMs = 1_000): number {
  const remaining = exp * 1000 - nowMs;
  const delay = remaining - Math.min(marginMs, Math.max(0, remaining) / 5);
  // setTimeout holds at most 2^31-1 ms; a later refresh is rescheduled when that timer fires.
  return Math.min(Math.max(delay, minDelayMs), 2 ** 31 - 1);
}
