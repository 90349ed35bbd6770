/**
 * Every bound of the service, in one place. docs/PROTOCOL.md lists them.
 */

/** Largest client WebSocket frame (JSON protocol), in bytes. Larger: error, then close 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Channel subscriptions one socket may hold at once. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 100;
/** Sustained client messages per second per socket (token bucket refill rate). */
export const MESSAGES_PER_SECOND = 50;
/** Burst a socket may send above the sustained rate (token bucket size). */
export const MESSAGE_BURST = 100;
/**
 * Messages refused for rate within RATE_REFUSAL_WINDOW_MS before the socket is closed with 1008
 * (Socket.IO: its session ends, 1008 on a WebSocket). Accepted messages in between do not reset
 * the count, so a steady flood that some messages get through is closed too. The same on
 * `/v1/yjs` (socket-host/rate-limiter.ts's MessageRateLimiter serves every door).
 */
export const MAX_RATE_REFUSALS = 200;
/** The window of MAX_RATE_REFUSALS and MAX_RATE_LIMITED_REPLIES: opened by a refusal. */
export const RATE_REFUSAL_WINDOW_MS = 10_000;
/** `rate_limited` error replies per window; further refusals in it are dropped silently. */
export const MAX_RATE_LIMITED_REPLIES = 10;
/** Open `/v1/ws` sockets of one user on one hub (a user's JSON sockets share a hub per region). */
export const MAX_JSON_SOCKETS_PER_USER = 20;
/** Authenticated Socket.IO sessions of one user on one Socket.IO hub. */
export const MAX_SIO_SESSIONS_PER_USER = 20;
/**
 * Furthest a token's `exp` may lie ahead of the moment it is verified, in seconds (one year). A
 * later `exp` (1e13, say, which no date can hold) is refused as `claims_invalid` on every door.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 60 * 60;
/** Longest id of a simulation, fund, portfolio, commodity or user, in characters. */
export const MAX_ID_LENGTH = 128;
/** Longest client message `id`, in characters. */
export const MAX_MESSAGE_ID_LENGTH = 128;
/** Zones one traffic-light subscription may filter on. */
export const MAX_ZONES = 16;

/** Largest ingest body, in bytes. Larger: 413. */
export const MAX_INGEST_BYTES = 1024 * 1024;
/** Events in one ingest batch. */
export const MAX_INGEST_BATCH = 100;
/** Longest free-text field of an event (messages, errors), in characters. */
export const MAX_TEXT_LENGTH = 4096;

/** Events each topic keeps for `since_seq` recovery (the contract says at least 1,000). */
export const TOPIC_HISTORY_LIMIT = 1000;
/** How long an ingest event `id` is remembered for deduplication (the contract: >= 10 min). */
export const DEDUPE_WINDOW_MS = 15 * 60 * 1000;
/** Events in one topic → hub delivery call. */
export const DELIVERY_BATCH = 100;
/**
 * How far a registered hub may fall behind its topic. The topic keeps every event a registered
 * hub has not acknowledged, beyond TOPIC_HISTORY_LIMIT, up to this many events and
 * TOPIC_MAX_LAG_BYTES; past either bound it drops the oldest and the hub's sockets are told to
 * resync (an unsolicited `subscribed` with `recovered: false`, then the latest state).
 */
export const TOPIC_MAX_LAG_EVENTS = 10_000;
/** Bytes of encoded events a topic keeps beyond TOPIC_HISTORY_LIMIT for lagging hubs. */
export const TOPIC_MAX_LAG_BYTES = 16 * 1024 * 1024;
/** How soon a topic retries a failed delivery; each further failure doubles it. */
export const DELIVERY_RETRY_MS = 2000;
/** The longest wait between two delivery retries to a failing hub. */
export const DELIVERY_RETRY_MAX_MS = 30_000;
/**
 * A hub's registration at a topic is a lease: every delivery the hub accepts renews it, and so
 * does the hub's own alarm every HUB_RENEW_MS. A topic forgets a hub only when the hub has
 * failed every delivery and renewed nothing for this long; the hub, once it answers again, finds
 * out at its next renewal and re-attaches with the last seq it delivered.
 */
export const HUB_LEASE_MS = 10 * 60 * 1000;
/** How often a hub that holds topics renews its registrations (from its alarm). */
export const HUB_RENEW_MS = 3 * 60 * 1000;
/** How soon after its last delivery a topic records how far each hub has got (its alarm). */
export const DELIVERY_FLUSH_MS = 1000;

/** Segments of an editing path (`fee_structure.management_fee_rate` has 2). */
export const MAX_PATH_DEPTH = 8;
/** Largest value of one `update_resource`, JSON-encoded, in bytes. */
export const MAX_EDIT_VALUE_BYTES = 16 * 1024;
/** Editing sessions one socket may hold at once. */
export const MAX_EDITING_SESSIONS_PER_SOCKET = 10;
/** Largest y-websocket frame, in bytes. Larger: close 1009. */
export const MAX_YJS_FRAME_BYTES = 1024 * 1024;
/** Awareness client ids one y-websocket connection may own. */
export const MAX_AWARENESS_CLIENTS_PER_CONNECTION = 8;
/** Updates in a document's log before it is compacted into a snapshot. */
export const DOCUMENT_COMPACT_UPDATES = 500;
/** Bytes in a document's log before it is compacted into a snapshot. */
export const DOCUMENT_COMPACT_BYTES = 1024 * 1024;
/** Bytes per snapshot row (SQLite rows in a Durable Object hold at most 2 MB). */
export const SNAPSHOT_CHUNK_BYTES = 512 * 1024;
/**
 * Nesting of arrays and objects inside one edit value (`[[1]]` is 2), from every door: JSON
 * `update_resource`, ingest `resource_updated` and values in Yjs updates. Deeper: refused.
 */
export const MAX_VALUE_DEPTH = 32;
/** Nesting of maps (and other shared types) below the document's root map, from Yjs clients. */
export const MAX_DOCUMENT_DEPTH = 32;
/** Longest key: a JSON path segment, a Yjs map key, a key inside a value. */
export const MAX_KEY_LENGTH = 256;
/**
 * Leaves (live map entries and new shared types) one Yjs update may add. Each becomes one
 * `resource_updated`; a larger update is refused whole (split it into several).
 */
export const MAX_LEAVES_PER_UPDATE = 5000;
/** Largest awareness (presence) state of one client, JSON-encoded, in bytes. Larger: dropped. */
export const MAX_AWARENESS_STATE_BYTES = 4096;
/** All presence states of one document together, in bytes. Past it, new states are dropped. */
export const MAX_PRESENCE_BYTES = 64 * 1024;
/** How often one y-websocket connection's `query-awareness` is answered; more are ignored. */
export const AWARENESS_QUERY_INTERVAL_MS = 1000;
/** Open y-websocket connections of one user to one document. More: close 4429. */
export const MAX_YJS_CONNECTIONS_PER_USER = 8;
/** How long after the first edit since the last compaction a document compacts its log (alarm). */
export const DOCUMENT_IDLE_COMPACT_MS = 30_000;

const utf8 = new TextEncoder();

/** Whether a string's UTF-8 encoding is over `limit` bytes; encodes only when it could be. */
export function exceedsBytes(text: string, limit: number): boolean {
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false; // a UTF-16 unit is at most 3 UTF-8 bytes
  return utf8.encode(text).byteLength > limit;
}
