/**
 * Operations at a glance (`GET /v1/admin/stats`), read from the Durable Objects when asked.
 *
 * Nothing is counted or registered per event or per connection for this: which hubs exist is
 * known from the configuration (`hub:<region>:<shard>` and `sio:<region>:<shard>` for every
 * shard below HUB_SHARDS, src/hub/shard.ts), which topics exist from the hubs that hold them,
 * and each topic knows the hubs it delivers to and how far each has acknowledged. One request
 * costs one `describe()` call per hub of the asked region (2 × the shards asked for) and one per
 * topic reported (at most `topics`); see docs/PROTOCOL.md "Operations".
 */
import type { Env } from "../env";
import { hubNamespace, hubPlacement, parseShardCount, REGIONS } from "../hub/shard";
import { ProtocolError } from "../protocol/errors";

/** Hubs asked per request at most (× 2 protocols), so a request stays well under the subrequest limit. */
export const MAX_STATS_SHARDS = 100;
/** Topics described per request at most; the default. */
export const MAX_STATS_TOPICS = 200;
export const DEFAULT_STATS_TOPICS = 50;
/** Calls to Durable Objects in flight at once. */
const CONCURRENCY = 16;

export interface StatsQuery {
  region: string;
  /** The first shard asked for, and how many. */
  from: number;
  count: number;
  /** How many topics to describe (the most subscribed first). */
  topics: number;
}

export interface HubStats {
  name: string;
  protocol: "json" | "socketio";
  /** Open WebSockets (a Socket.IO hub's include sessions upgraded to WebSocket). */
  sockets: number;
  /** Engine.IO sessions, polling or WebSocket (Socket.IO hubs). */
  sessions: number;
  /** Topics the hub holds. */
  topics: number;
  /** Set when the hub could not be asked. */
  error?: string;
}

export interface TopicHubStats {
  hub: string;
  /** The last seq the hub acknowledged; -1 when the topic does not know (a resync follows). */
  delivered: number;
  /** Events stored but not yet acknowledged by this hub. */
  lag: number;
  failures: number;
  /** Milliseconds since the hub last accepted a delivery or renewed its registration. */
  since_contact_ms: number;
}

export interface TopicStats {
  name: string;
  /** Sockets and sessions subscribed, over the hubs asked. */
  subscribers: number;
  seq: number;
  oldest_seq: number | null;
  /** The largest lag of its hubs (0 when all are up to date). */
  max_lag: number;
  hubs: TopicHubStats[];
  error?: string;
}

export interface Stats {
  region: string;
  shards: { configured: number; from: number; count: number; next_from: number | null };
  at: string;
  totals: { hubs_active: number; sockets: number; sessions: number; topics: number; max_lag: number };
  hubs: HubStats[];
  topics: TopicStats[];
  /** Topics held by the hubs asked but not described (over `topics`). */
  topics_not_shown: number;
}

/**
 * The region a request from `continent` lands in: where the caller's own sockets are (`local`
 * without a continent, as in the Workers tests; wrangler dev's placeholder says North America).
 */
export function regionOf(continent: string | undefined): string {
  return hubPlacement("", continent, 1).name.split(":")[1] ?? "local";
}

/**
 * Validates `?region=&from=&count=&topics=`; a bad value is a 400, never a guess. `region`
 * defaults to `defaultRegion`, the request's own.
 */
export function parseStatsQuery(params: URLSearchParams, configured: number, defaultRegion = "local"): StatsQuery {
  const region = params.get("region") ?? defaultRegion;
  if (!REGIONS.has(region as DurableObjectLocationHint)) {
    throw new ProtocolError("invalid_message", `Unknown region "${region.slice(0, 32)}"`, {
      details: { parameter: "region", regions: [...REGIONS] },
    });
  }
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = params.get(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    if (!/^\d{1,5}$/.test(raw) || value < min || value > max) {
      throw new ProtocolError("invalid_message", `${name} must be an integer from ${min} to ${max}`, {
        details: { parameter: name, min, max },
      });
    }
    return value;
  };
  const from = integer("from", 0, 0, Math.max(0, configured - 1));
  const count = integer("count", Math.min(MAX_STATS_SHARDS, configured - from), 1, MAX_STATS_SHARDS);
  const topics = integer("topics", DEFAULT_STATS_TOPICS, 0, MAX_STATS_TOPICS);
  return { region, from, count: Math.min(count, configured - from), topics };
}

/** Runs `work` over `items`, at most CONCURRENCY at a time, results in order. */
async function pooled<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 200);

export async function collectStats(env: Env, query: StatsQuery): Promise<Stats> {
  const configured = parseShardCount(env.HUB_SHARDS);
  const names: { name: string; protocol: HubStats["protocol"] }[] = [];
  for (let shard = query.from; shard < query.from + query.count; shard++) {
    names.push({ name: `hub:${query.region}:${shard}`, protocol: "json" });
    names.push({ name: `sio:${query.region}:${shard}`, protocol: "socketio" });
  }
  const subscribers = new Map<string, number>();
  const hubs = await pooled(names, async ({ name, protocol }): Promise<HubStats> => {
    try {
      const described = await hubNamespace(env, name).getByName(name).describe(MAX_STATS_TOPICS);
      for (const [topic, count] of Object.entries(described.held)) {
        subscribers.set(topic, (subscribers.get(topic) ?? 0) + count);
      }
      return { name, protocol, sockets: described.sockets, sessions: described.sessions, topics: described.topics };
    } catch (error) {
      return { name, protocol, sockets: 0, sessions: 0, topics: 0, error: reason(error) };
    }
  });
  const ranked = [...subscribers].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = ranked.slice(0, query.topics);
  const now = Date.now();
  const topics = await pooled(shown, async ([name, count]): Promise<TopicStats> => {
    try {
      const described = await env.TOPIC.getByName(name).describe();
      const topicHubs = Object.entries(described.hubs).map(([hub, record]) => ({
        hub,
        delivered: record.delivered,
        lag: record.lag,
        failures: record.failures,
        since_contact_ms: Math.max(0, now - record.contactAt),
      }));
      return {
        name,
        subscribers: count,
        seq: described.seq,
        oldest_seq: described.oldestSeq,
        max_lag: Math.max(0, ...topicHubs.map((hub) => hub.lag)),
        hubs: topicHubs,
      };
    } catch (error) {
      return { name, subscribers: count, seq: 0, oldest_seq: null, max_lag: 0, hubs: [], error: reason(error) };
    }
  });
  const active = hubs.filter((hub) => hub.sockets > 0 || hub.sessions > 0 || hub.topics > 0);
  const end = query.from + query.count;
  return {
    region: query.region,
    shards: { configured, from: query.from, count: query.count, next_from: end < configured ? end : null },
    at: new Date(now).toISOString(),
    totals: {
      hubs_active: active.length,
      sockets: hubs.reduce((sum, hub) => sum + hub.sockets, 0),
      sessions: hubs.reduce((sum, hub) => sum + hub.sessions, 0),
      topics: subscribers.size,
      max_lag: Math.max(0, ...topics.map((topic) => topic.max_lag)),
    },
    hubs,
    topics,
    topics_not_shown: Math.max(0, ranked.length - shown.length),
  };
}
