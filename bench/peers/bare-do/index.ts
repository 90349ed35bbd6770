/**
 * "bare DO": the runtime's own floor for the job the edge does for the Equihome JSON protocol,
 * minus authentication and storage. Same runtime, same compatibility date, same shape:
 *
 *   client ──ws──▶ Worker ──▶ shard DO (1 of 8, Hibernation API) ◀──rpc── topic DO (seq, in memory)
 *   publisher ──POST /v1/ingest──▶ Worker ──rpc──▶ topic DO ──rpc──▶ all 8 shard DOs ──▶ sockets
 *
 * - `GET /v1/ws` (any token, or none): routed to `shard:<fnv1a(token) % 8>` (random without a
 *   token), which accepts the socket with `ctx.acceptWebSocket`. The shard keeps which sockets
 *   subscribed to which topic in memory and in each socket's attachment, and rebuilds its index
 *   from the attachments when it wakes.
 * - Frames: `subscribe` → `subscribed` (with the request's id), `unsubscribe` → `unsubscribed`,
 *   `ping` → `pong`; anything else gets an `error` frame.
 * - `POST /v1/ingest`: one event `{event, data, id?}` or an array of ≤ 100. Each topic
 *   (`simulation_updates:<data.simulation_id>`) gets one RPC to its topic DO, which assigns seqs
 *   in memory, answers, then sends the encoded frames to every shard, in order, one delivery loop
 *   per shard, ≤ 100 frames per RPC. Nothing is stored: a 200 is not durable.
 *
 * No auth, no validation beyond what routing needs, no storage, no registration of shards at the
 * topic (every shard gets every event), no rate limits, no replay.
 */
import { DurableObject } from "cloudflare:workers";

interface Env {
  SHARD: DurableObjectNamespace<ShardDurableObject>;
  TOPIC: DurableObjectNamespace<TopicDurableObject>;
}

/** As the edge's HUB_SHARDS default. */
const SHARDS = 8;
/** As the edge's DELIVERY_BATCH and MAX_INGEST_BATCH. */
const DELIVERY_BATCH = 100;
const MAX_INGEST_BATCH = 100;

interface IngestEvent {
  event: string;
  data: Record<string, unknown>;
  id?: string;
}

interface Attachment {
  topics: string[];
}

/** FNV-1a, 32 bit, as the edge's shard choice. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const refusal = (code: string, message: string, status: number): Response => json({ error: { code, message } }, status);

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return json({ status: "ok" });
    if (url.pathname === "/v1/ws" && request.method === "GET") {
      if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
        return refusal("invalid_message", "Expected a WebSocket upgrade", 426);
      }
      const token = url.searchParams.get("token");
      const shard = token ? fnv1a(token) % SHARDS : Math.floor(Math.random() * SHARDS);
      return env.SHARD.getByName(`shard:${shard}`).fetch(request);
    }
    if (url.pathname === "/v1/ingest" && request.method === "POST") return ingest(request, env);
    return refusal("resource_not_found", `No route for ${request.method} ${url.pathname}`, 404);
  },
} satisfies ExportedHandler<Env>;

async function ingest(request: Request, env: Env): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return refusal("invalid_message", "Body is not valid JSON", 400);
  }
  const events = (Array.isArray(body) ? body : [body]) as IngestEvent[];
  if (events.length < 1 || events.length > MAX_INGEST_BATCH) {
    return refusal("invalid_message", `1..${MAX_INGEST_BATCH} events`, 413);
  }
  const topics = new Map<string, number[]>();
  for (const [index, event] of events.entries()) {
    const key = event?.data?.simulation_id;
    if (typeof event?.event !== "string" || typeof key !== "string") {
      return refusal("invalid_message", `event ${index}: needs event and data.simulation_id`, 400);
    }
    const topic = `simulation_updates:${key}`;
    const indices = topics.get(topic);
    if (indices) indices.push(index);
    else topics.set(topic, [index]);
  }
  const results: { event: string; channel: string; key: string; seq: number }[] = new Array(events.length);
  await Promise.all(
    [...topics].map(async ([topic, indices]) => {
      const batch = indices.map((index) => events[index] as IngestEvent);
      const seqs = await env.TOPIC.getByName(topic).publish(
        topic,
        batch.map(({ event, data }) => ({ event, data })),
      );
      for (const [position, seq] of seqs.entries()) {
        const index = indices[position] as number;
        const { event, data } = events[index] as IngestEvent;
        results[index] = { event, channel: "simulation_updates", key: data.simulation_id as string, seq };
      }
    }),
  );
  return json({ results });
}

/** One topic: seq in memory, and one in-order delivery loop per shard. */
export class TopicDurableObject extends DurableObject<Env> {
  #seq = 0;
  #topic: string | null = null;
  #shards: DurableObjectStub<ShardDurableObject>[];
  #queues: string[][] = Array.from({ length: SHARDS }, () => []);
  #pumping: boolean[] = new Array(SHARDS).fill(false);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#shards = Array.from({ length: SHARDS }, (_, i) => env.SHARD.getByName(`shard:${i}`));
  }

  /** Assigns seqs and answers; delivery to the shards follows. */
  async publish(topic: string, events: { event: string; data: unknown }[]): Promise<number[]> {
    this.#topic = topic;
    const seqs: number[] = [];
    const frames: string[] = [];
    for (const { event, data } of events) {
      const seq = ++this.#seq;
      seqs.push(seq);
      frames.push(JSON.stringify({ event, data, seq }));
    }
    for (let shard = 0; shard < SHARDS; shard++) {
      (this.#queues[shard] as string[]).push(...frames);
      void this.#pump(shard);
    }
    return seqs;
  }

  async #pump(shard: number): Promise<void> {
    if (this.#pumping[shard] || this.#topic === null) return;
    this.#pumping[shard] = true;
    const queue = this.#queues[shard] as string[];
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, DELIVERY_BATCH);
        try {
          await (this.#shards[shard] as DurableObjectStub<ShardDurableObject>).deliver(this.#topic, batch);
        } catch (error) {
          // Dropped (nothing is stored); a fresh stub for the next batch.
          console.warn(`bare-do topic ${this.#topic}: delivery to shard ${shard} failed`, error);
          this.#shards[shard] = this.env.SHARD.getByName(`shard:${shard}`);
        }
      }
    } finally {
      this.#pumping[shard] = false;
    }
  }
}

/** Holds sockets with the Hibernation API; its subscription index lives in memory and attachments. */
export class ShardDurableObject extends DurableObject<Env> {
  #byTopic = new Map<string, Set<WebSocket>>();
  #topicsOf = new Map<WebSocket, Set<string>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // After a wake from hibernation: rebuild the index from the sockets' attachments.
    for (const ws of ctx.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as Attachment | null;
      for (const topic of attachment?.topics ?? []) this.#add(ws, topic);
    }
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return refusal("invalid_message", "Expected a WebSocket upgrade", 426);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ topics: [] } satisfies Attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Called by topic DOs, in seq order per topic. */
  async deliver(topic: string, frames: string[]): Promise<void> {
    const sockets = this.#byTopic.get(topic);
    if (!sockets) return;
    for (const ws of sockets) {
      try {
        for (const frame of frames) ws.send(frame);
      } catch {
        this.#forget(ws);
      }
    }
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    let frame: { event?: unknown; data?: { channel?: unknown; simulation_id?: unknown }; id?: unknown };
    try {
      frame = JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message));
    } catch {
      ws.send(JSON.stringify({ event: "error", data: { code: "invalid_message", message: "Not JSON" } }));
      return;
    }
    const { event, data, id } = frame ?? {};
    if (event === "ping") {
      ws.send(JSON.stringify({ event: "pong", data: { timestamp: Date.now() }, id }));
      return;
    }
    if (event === "subscribe" || event === "unsubscribe") {
      const channel = data?.channel;
      const key = data?.simulation_id;
      if (typeof channel !== "string" || typeof key !== "string") {
        ws.send(
          JSON.stringify({
            event: "error",
            data: { code: "invalid_subscription", message: "needs channel and simulation_id" },
            id,
          }),
        );
        return;
      }
      const topic = `${channel}:${key}`;
      if (event === "subscribe") this.#add(ws, topic);
      else this.#remove(ws, topic);
      ws.serializeAttachment({ topics: [...(this.#topicsOf.get(ws) ?? [])] } satisfies Attachment);
      ws.send(JSON.stringify({ event: `${event}d`, data: { channel, simulation_id: key }, id }));
      return;
    }
    ws.send(JSON.stringify({ event: "error", data: { code: "invalid_message", message: "Unknown event" }, id }));
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#forget(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#forget(ws);
  }

  #add(ws: WebSocket, topic: string): void {
    const sockets = this.#byTopic.get(topic) ?? new Set<WebSocket>();
    this.#byTopic.set(topic, sockets);
    sockets.add(ws);
    const topics = this.#topicsOf.get(ws) ?? new Set<string>();
    this.#topicsOf.set(ws, topics);
    topics.add(topic);
  }

  #remove(ws: WebSocket, topic: string): void {
    const sockets = this.#byTopic.get(topic);
    sockets?.delete(ws);
    if (sockets?.size === 0) this.#byTopic.delete(topic);
    this.#topicsOf.get(ws)?.delete(topic);
  }

  #forget(ws: WebSocket): void {
    for (const topic of this.#topicsOf.get(ws) ?? []) this.#remove(ws, topic);
    this.#topicsOf.delete(ws);
  }
}
