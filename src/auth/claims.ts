import * as v from "valibot";

/**
 * Upper bounds on claims, so a principal always fits a socket attachment (workerd caps a
 * serialized attachment at 2,048 bytes).
 */
export const MAX_SUB_LENGTH = 128;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_SCOPE_LENGTH = 128;
export const MAX_RESOURCE_PATTERNS = 8;
export const MAX_RESOURCE_PATTERN_LENGTH = 64;

const RESOURCE_PATTERN = /^[a-z_][a-z0-9_]*:(\*|[^\s:*][^\s*]*)$/;

/**
 * The claims realtime-edge reads, validated after jose has checked the signature, `exp`,
 * `iss` and `aud`. Unknown claims are ignored.
 */
export const TokenClaimsSchema = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SUB_LENGTH)),
  exp: v.pipe(v.number(), v.integer()),
  email: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_EMAIL_LENGTH))),
  scope: v.optional(v.pipe(v.string(), v.maxLength(MAX_SCOPE_LENGTH))),
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
