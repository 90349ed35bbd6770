// Signs tokens with the local JWT_SECRET from .dev.vars: shared by `npm run token` and `npm run listen`.
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";

export function localSecret() {
  try {
    const match = /^JWT_SECRET=(.+)$/m.exec(readFileSync(new URL("../.dev.vars", import.meta.url), "utf8"));
    if (match) return match[1].trim();
  } catch {}
  console.error("No JWT_SECRET: run `npm run dev` once (it creates .dev.vars) or pass --secret.");
  process.exit(1);
}

/** An HS256 token: `sub`, `exp` = now + ttl seconds, optional scope, email, resources. */
export function signLocalToken({ sub, scope = "", email, resources, ttl = 3600, secret = localSecret() }) {
  const claims = { scope };
  if (email) claims.email = email;
  if (resources?.length) claims.resources = resources;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Number(ttl))
    .sign(new TextEncoder().encode(secret));
}
