import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import * as v from "valibot";
import { ProtocolError } from "../protocol/errors";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../protocol/limits";
import { TokenClaimsSchema } from "./claims";
import { CLOCK_TOLERANCE_SECONDS, KNOWN_SCOPES, type Principal, type Scope } from "./principal";

export { CLOCK_TOLERANCE_SECONDS };

/** What token verification needs from the bindings. */
export interface AuthConfig {
  secret: string | undefined;
  jwksUrl: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
}

export function authConfigFromEnv(env: {
  JWT_SECRET?: string;
  JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
}): AuthConfig {
  return {
    secret: env.JWT_SECRET || undefined,
    jwksUrl: env.JWKS_URL || undefined,
    issuer: env.JWT_ISSUER || undefined,
    audience: env.JWT_AUDIENCE || undefined,
  };
}

/** Stable reasons for a refused token; callers and tests switch on these, never on text. */
export type TokenFailure =
  | "token_missing"
  | "token_malformed"
  | "token_expired"
  | "algorithm_not_allowed"
  | "signature_invalid"
  | "claims_invalid"
  | "key_unavailable"
  | "not_configured";

/** Algorithms are an explicit allow-list: HS256 with the shared secret, RS256/ES256 via JWKS. */
const SYMMETRIC_ALGORITHMS = ["HS256"];
const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"];
/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

const encoder = new TextEncoder();
const secretKeys = new Map<string, Promise<CryptoKey>>();
const remoteKeySets = new Map<string, JWTVerifyGetKey>();

/**
 * The HS256 key, imported once per secret and isolate: given raw bytes, jose imports the key
 * again on every verification (a profile of the connection path showed it).
 */
function secretKey(secret: string): Promise<CryptoKey> {
  let key = secretKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    secretKeys.set(secret, key);
  }
  return key;
}

/** jose caches fetched keys inside the set; one set per URL per isolate shares that cache. */
function remoteKeySet(url: string): JWTVerifyGetKey {
  let set = remoteKeySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    remoteKeySets.set(url, set);
  }
  return set;
}

function refuse(reason: TokenFailure, message: string, cause?: unknown): ProtocolError {
  return new ProtocolError("authentication_error", message, { details: { reason }, cause });
}

/** Our key set is unreachable or broken: a server fault, not the client's token. */
function keyUnavailable(cause: unknown): ProtocolError {
  return new ProtocolError("server_error", "Signing keys are unavailable; retry later", {
    details: { reason: "key_unavailable" },
    status: 503,
    cause,
  });
}

/**
 * A JWK set whose failures to fetch (HTTP errors arrive as ERR_JOSE_GENERIC, network errors as a
 * TypeError) are the server's fault; only "no key matches" stays the token's.
 */
function guardedKeySet(keySet: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, input) => {
    try {
      return await keySet(header, input);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
        throw error;
      }
      throw keyUnavailable(error);
    }
  };
}

/** Maps jose's errors by their stable `code`, never by message text. */
function fromJoseError(error: unknown): ProtocolError {
  if (!(error instanceof joseErrors.JOSEError)) {
    return refuse("token_malformed", "Token could not be verified", error);
  }
  switch (error.code) {
    case "ERR_JWT_EXPIRED":
      return refuse("token_expired", "Token expired", error);
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = error instanceof joseErrors.JWTClaimValidationFailed ? error.claim : "unknown";
      return refuse("claims_invalid", `Token claim "${claim}" is missing or invalid`, error);
    }
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return refuse("algorithm_not_allowed", "Token algorithm is not allowed", error);
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return refuse("signature_invalid", "Token signature is invalid", error);
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return refuse("signature_invalid", "No key matches the token", error);
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
    case "ERR_JWK_INVALID":
      return keyUnavailable(error);
    default:
      return refuse("token_malformed", "Token is malformed", error);
  }
}

/**
 * Verifies a JWT and returns its principal, or throws a ProtocolError with code
 * `authentication_error` and `details.reason` a {@link TokenFailure}.
 */
export async function verifyToken(token: string | undefined | null, config: AuthConfig): Promise<Principal> {
  if (!token) throw refuse("token_missing", "A token is required");
  if (token.length > MAX_TOKEN_LENGTH) throw refuse("token_malformed", "Token is too long");

  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw refuse("token_malformed", "Token is malformed", error);
  }

  let payload: JWTPayload;
  const options = {
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ["exp", "sub"],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  };
  try {
    if (alg !== undefined && SYMMETRIC_ALGORITHMS.includes(alg)) {
      if (!config.secret) throw refuse("not_configured", "HS256 tokens are not accepted here");
      ({ payload } = await jwtVerify(token, await secretKey(config.secret), {
        ...options,
        algorithms: SYMMETRIC_ALGORITHMS,
      }));
    } else if (alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg) && config.jwksUrl) {
      ({ payload } = await jwtVerify(token, guardedKeySet(remoteKeySet(config.jwksUrl)), {
        ...options,
        algorithms: ASYMMETRIC_ALGORITHMS,
      }));
    } else {
      throw refuse("algorithm_not_allowed", "Token algorithm is not allowed");
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw fromJoseError(error);
  }

  const claims = v.safeParse(TokenClaimsSchema, payload);
  if (!claims.success) {
    const issue = claims.issues[0];
    const claim = issue ? v.getDotPath(issue) : null;
    throw refuse("claims_invalid", `Token claim "${claim ?? "unknown"}" is invalid`);
  }
  const { sub, exp, email, scope, resources } = claims.output;
  // An `exp` no date can hold (1e13) would break every use of it; one a year away is no expiry.
  if (exp - Date.now() / 1000 > MAX_TOKEN_LIFETIME_SECONDS) {
    throw refuse("claims_invalid", `Token claim "exp" is more than ${MAX_TOKEN_LIFETIME_SECONDS} s ahead`);
  }
  const granted = typeof scope === "string" ? scope.split(" ") : (scope ?? []);
  return {
    sub,
    exp,
    email: email || sub,
    scopes: KNOWN_SCOPES.filter((known: Scope) => granted.includes(known)),
    resources: resources ?? null,
  };
}

/** The token of an upgrade: `Authorization: Bearer`, else the `token` query parameter. */
export function tokenFromRequest(request: Request): string | null {
  return bearerToken(request) ?? new URL(request.url).searchParams.get("token");
}

/** The token of an `Authorization: Bearer` header, or null. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get("Authorization");
  return (header && /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]) || null;
}
