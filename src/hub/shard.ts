/**
 * Which hub Durable Object holds a connection: `hub:<region>:<shard>`. The region comes from
 * the request's continent (also the hub's location hint, so it is created near its users); the
 * shard from a hash of the user, so one user's sockets share a hub. Pure.
 */
import type { JsonHubDurableObject } from "./json/json-hub-durable-object";
import type { SocketIoHubDurableObject } from "./socketio/socketio-hub-durable-object";

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

/** The most hubs per region `HUB_SHARDS` may ask for (a shard is at most four digits in an id). */
export const MAX_HUB_SHARDS = 1024;

export function parseShardCount(value: string | undefined): number {
  const count = Number(value ?? "");
  return Number.isInteger(count) && count >= 1 && count <= MAX_HUB_SHARDS ? count : 8;
}

export function hubPlacement(userKey: string, continent: string | undefined, shards: number): HubPlacement {
  const locationHint =
    continent !== undefined && Object.hasOwn(CONTINENT_HINTS, continent) ? CONTINENT_HINTS[continent] : undefined;
  const region = locationHint ?? "local";
  return { name: `hub:${region}:${fnv1a(userKey) % shards}`, locationHint };
}

// ---------------------------------------------------------------------------------------------
// Socket.IO hubs: `sio:<region>:<shard>`. An Engine.IO session id names its hub, so a polling
// request, an upgrade or a recovery finds the session whichever Worker instance receives it.

/** Every region a hub name can hold (also read by the admin route, src/ops/stats.ts). */
export const REGIONS = new Set([...Object.values(CONTINENT_HINTS), "local"]);
const SESSION_ID = /^([a-z-]+)\.(\d{1,4})\.[A-Za-z0-9_-]{16,64}$/;

export function isSocketIoHub(name: string): boolean {
  return name.startsWith("sio:");
}

/** The bindings of the two hub classes, one per protocol family. */
export interface HubNamespaces {
  HUB: DurableObjectNamespace<JsonHubDurableObject>;
  SIO_HUB: DurableObjectNamespace<SocketIoHubDurableObject>;
}

/** The namespace that holds the hub of this name: `sio:` hubs are Socket.IO hubs, others JSON. */
export function hubNamespace(
  env: HubNamespaces,
  name: string,
): DurableObjectNamespace<JsonHubDurableObject> | DurableObjectNamespace<SocketIoHubDurableObject> {
  return isSocketIoHub(name) ? env.SIO_HUB : env.HUB;
}

/** A Socket.IO hub for a new session: no user is known at the handshake, so a random shard. */
export function socketIoHubPlacement(continent: string | undefined, shards: number, random: number): HubPlacement {
  const locationHint =
    continent !== undefined && Object.hasOwn(CONTINENT_HINTS, continent) ? CONTINENT_HINTS[continent] : undefined;
  return { name: `sio:${locationHint ?? "local"}:${Math.floor(random * shards) % shards}`, locationHint };
}

/** A new session id (or recovery pid) on a Socket.IO hub: `<region>.<shard>.<random>`. */
export function newSessionId(hubName: string): string {
  const [, region, shard] = hubName.split(":");
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const random = btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
  return `${region}.${shard}.${random}`;
}

/**
 * The hub a session id (or recovery pid) belongs to, or null when it is not one of ours or names
 * a shard past `shards`. `shards` is the configured count (`parseShardCount(env.HUB_SHARDS)`),
 * and has no default: an id comes from the client, and a hub it names that the configuration
 * does not would be created by merely addressing it.
 */
export function sioHubOfSessionId(sid: string, shards: number): string | null {
  const match = SESSION_ID.exec(sid);
  if (!match) return null;
  const [, region = "", shard = ""] = match;
  if (!REGIONS.has(region as DurableObjectLocationHint) || Number(shard) >= Math.min(shards, MAX_HUB_SHARDS)) {
    return null;
  }
  return `sio:${region}:${Number(shard)}`;
}
