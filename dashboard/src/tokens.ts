/**
 * Where the page's tokens come from: the token field (any JWT your issuer signs), or, only when
 * the server runs under `npm run dev`, the DEV-ONLY helper `POST /v1/dev/token`, which mints
 * short-lived tokens with the local secret. Every connection asks `get()` for a token each time
 * it connects and before expiry, so dev tokens are renewed and a pasted token is used as is.
 */

export interface Identity {
  sub: string;
  email: string;
  scope: string;
}

export interface Claims {
  sub: string;
  scope: string;
  exp: number;
}

/** The payload of a JWT, unverified (for display and for `sub`): the server verifies. */
export function readClaims(token: string): Claims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(
      part
        .replaceAll("-", "+")
        .replaceAll("_", "/")
        .padEnd(Math.ceil(part.length / 4) * 4, "="),
    );
    const payload = JSON.parse(json) as Record<string, unknown>;
    if (typeof payload.sub !== "string" || typeof payload.exp !== "number") return null;
    const scope = Array.isArray(payload.scope) ? payload.scope.join(" ") : String(payload.scope ?? "");
    return { sub: payload.sub, scope, exp: payload.exp };
  } catch {
    return null;
  }
}

export class DevTokensOff extends Error {}

/** Renew a dev token when less than this is left of it. */
const RENEW_BEFORE_S = 120;

export class Tokens {
  #mode: "dev" | "manual" = "manual";
  #manual = "";
  #minted = new Map<string, { token: string; exp: number }>();

  get mode(): "dev" | "manual" {
    return this.#mode;
  }

  /** Uses a pasted token for every connection. */
  takeManual(token: string): Claims {
    const claims = readClaims(token.trim());
    if (!claims) throw new Error("That is not a JWT (header.payload.signature)");
    this.#mode = "manual";
    this.#manual = token.trim();
    return claims;
  }

  /** Switches to the dev helper; throws DevTokensOff when the server does not have it. */
  async takeDev(identity: Identity): Promise<string> {
    const token = await this.#mint(identity);
    this.#mode = "dev";
    return token;
  }

  /** A token for `identity` (dev mode) or the pasted one (manual mode: the same for every pane). */
  async get(identity: Identity): Promise<string> {
    if (this.#mode === "manual") return this.#manual;
    const cached = this.#minted.get(identity.sub);
    if (cached && cached.exp - Date.now() / 1000 > RENEW_BEFORE_S) return cached.token;
    return this.#mint(identity);
  }

  async #mint(identity: Identity): Promise<string> {
    const response = await fetch("/v1/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(identity),
    });
    if (response.status === 404) throw new DevTokensOff("The dev token helper is off");
    if (!response.ok) throw new Error(`dev token: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { token: string };
    const claims = readClaims(body.token);
    this.#minted.set(identity.sub, { token: body.token, exp: claims?.exp ?? 0 });
    return body.token;
  }
}
