/** Seconds of clock skew tolerated on `exp` and `nbf`, at connect and while open. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Who is on the other end of a socket or request, as proven by a verified token. */
export interface Principal {
  /** The user (or publisher) id: the token's `sub`. */
  sub: string;
  /** Shown as `updated_by` on edits; falls back to `sub`. */
  email: string;
  /** The token's space-separated `scope`, split. */
  scopes: string[];
  /** `type:id` patterns the token is limited to, or null for no limit. */
  resources: string[] | null;
  /** Expiry, seconds since the epoch (the token's `exp`). */
  exp: number;
}

/** `admin`: operations routes (`GET /v1/admin/stats`); it grants nothing else. */
export const KNOWN_SCOPES = ["edit", "publish", "admin"] as const;
export type Scope = (typeof KNOWN_SCOPES)[number];

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes(scope);
}

/**
 * Whether the token reaches `type:id`. A pattern is `type:id` or `type:*`; a token without
 * `resources` reaches everything.
 */
export function canAccess(principal: Principal, resourceType: string, resourceId: string): boolean {
  if (principal.resources === null) return true;
  return principal.resources.some((pattern) => matchesResource(pattern, resourceType, resourceId));
}

export function matchesResource(pattern: string, resourceType: string, resourceId: string): boolean {
  const colon = pattern.indexOf(":");
  if (colon <= 0) return false;
  const type = pattern.slice(0, colon);
  const id = pattern.slice(colon + 1);
  return type === resourceType && (id === "*" || id === resourceId);
}

/**
 * When an open socket's access ends, in ms since the epoch: the token's `exp` plus the same
 * clock tolerance that verification allows, so a token accepted at connect is not cut at once.
 */
export function accessEndsAt(principal: Principal): number {
  return (principal.exp + CLOCK_TOLERANCE_SECONDS) * 1000;
}
