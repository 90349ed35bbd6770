import { SignJWT } from "jose";

export const TEST_JWT_SECRET = "test-secret-for-vitest-only-0123456789abcdef";

export interface TestClaims {
  sub?: string;
  email?: string;
  scope?: string;
  resources?: string[];
  /** Seconds from now; negative for an expired token. */
  ttl?: number;
  iss?: string;
  aud?: string;
}

/** An HS256 token signed with the test secret (or `secret`). */
export async function signToken(claims: TestClaims = {}, secret = TEST_JWT_SECRET): Promise<string> {
  const { sub = "user-123", ttl = 3600, iss, aud, ...rest } = claims;
  let jwt = new SignJWT({ ...rest })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
  if (iss) jwt = jwt.setIssuer(iss);
  if (aud) jwt = jwt.setAudience(aud);
  return jwt.sign(new TextEncoder().encode(secret));
}

export const publisherToken = (claims: TestClaims = {}) => signToken({ sub: "engine", scope: "publish", ...claims });

/** A token of `sub` (with an email) that may edit: `start_editing`, `update_resource`. */
export const editorToken = (sub: string, claims: TestClaims = {}) =>
  signToken({ sub, email: `${sub}@example.com`, scope: "edit", ...claims });

/**
 * A token whose access ends 0.8–1 s from now: `exp` is in whole seconds, so it is signed at the
 * start of a second (else it could run out within milliseconds), valid thanks to the 30 s clock
 * tolerance, and ends with it. Signed with the test secret (or `secret`).
 */
export async function signExpiringToken(claims: TestClaims = {}, secret = TEST_JWT_SECRET): Promise<string> {
  const intoSecond = Date.now() % 1000;
  if (intoSecond > 200) await new Promise((resolve) => setTimeout(resolve, 1000 - intoSecond));
  return signToken({ ...claims, ttl: -29 }, secret);
}
