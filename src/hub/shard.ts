/**
 * Which hub Durable Object holds a connection: `hub:<region>:<shard>`. The region comes from
 * the request's continent (also the hub's location hint, so it is created near its users); the
 * shard from a hash of the user, so one user's sockets share a hub. Pure.
 */

const CONTINENT_HINTS: Record<string, DurableObjectLocationHint> = {
  NA: "enam",
  SA: "sam",
  EU: "weur",
  AF: "afr",
  AS: "apac",
  OC: "oc",
  AN: "oc",
};

export interface HubPlacement {
  name: string;
  locationHint: DurableObjectLocationHint | undefined;
}

/** FNV-1a, 32 bit: small, stable across runtimes, good enough spread for shard choice. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export function parseShardCount(value: string | undefined): number {
  const count = Number(value ?? "");
  return Number.isInteger(count) && count >= 1 && count <= 1024 ? count : 8;
}

export function hubPlacement(userKey: string, continent: string | undefined, shards: number): HubPlacement {
  const locationHint =
    continent !== undefined && Object.hasOwn(CONTINENT_HINTS, continent) ? CONTINENT_HINTS[continent] : undefined;
  const region = locationHint ?? "local";
  return { name: `hub:${region}:${fnv1a(userKey) % shards}`, locationHint };
}
