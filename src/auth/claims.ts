import * as v from "valibot";

/**
 * Upper bounds on claims. A principal must fit a socket attachment (workerd caps one at 2,048
 * bytes): `sub`, `email` and `resources` are bounded; of `scope` only the scopes this service
 * knows are kept, so a long identity-provider scope string is fine.
 */
export const MAX_SUB_LENGTH = 128;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_SCOPE_LENGTH = 4096;
export const MAX_RESOURCE_PATTERNS = 16;
export const MAX_RESOURCE_PATTERN_LENGTH = 64;

const RESOURCE_PATTERN = /^[a-z_][a-z0-9_]*:(\*|[^\s:*][^\s*]*)$/;

/**
 * The claims realtime-edge reads, validated after jose has checked the signature, `exp`,
 * `iss` and `aud`. Unknown claims are ignored.
 */
export const TokenClaimsSchema = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SUB_LENGTH)),
  /** Also at most MAX_TOKEN_LIFETIME_SECONDS ahead: checked by verifyToken, which knows the time. */
  exp: v.pipe(v.number(), v.integer()),
  email: v.nullish(v.pipe(v.string(), v.maxLength(MAX_EMAIL_LENGTH))),
  /** A space-separated string (RFC 8693), or an array as some identity providers issue it. */
  scope: v.nullish(
    v.union([
      v.pipe(v.string(), v.maxLength(MAX_SCOPE_LENGTH)),
      v.pipe(v.array(v.pipe(v.string(), v.maxLength(256))), v.maxLength(256)),
    ]),
  ),
  resources: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.maxLength(MAX_RESOURCE_PATTERN_LENGTH),
          v.regex(RESOURCE_PATTERN, "a resource pattern is type:id or type:*"),
        ),
      ),
      v.maxLength(MAX_RESOURCE_PATTERNS),
    ),
  ),
});

export type TokenClaims = v.InferOutput<typeof TokenClaimsSchema>;
