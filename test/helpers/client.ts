/**
 * Test clients inside workerd: real WebSockets through the Worker, and ingest posts. Every wait
 * has a timeout, so a missing message fails the test instead of hanging it.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { publisherToken, signToken } from "./tokens";

export interface Frame {
  event: string;
  data: Record<string, unknown>;
  id?: string | number;
  seq?: number;
}

export class TestSocket {
  readonly frames: Frame[] = [];
  #cursor = 0;
  #waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(event.data as string) as Frame);
      this.#wake();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.#wake();
    });
  }

  send(event: string, data: unknown, id?: string | number): void {
    this.ws.send(JSON.stringify(id === undefined ? { event, data } : { event, data, id }));
  }

  /** The next frame not yet taken (optionally the next matching one, skipping others). */
  async next(match: (frame: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.frames.length) {
        const frame = this.frames[this.#cursor++] as Frame;
        if (match(frame)) return frame;
      }
      if (this.closed)
        throw new Error(`socket closed (${this.closed.code}) while waiting; frames: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  nextEvent(event: string, timeoutMs?: number): Promise<Frame> {
    return this.next((frame) => frame.event === event, timeoutMs);
  }

  /** Sends a request and waits for the reply carrying its id. */
  async request(
    event: string,
    data: unknown,
    id: string | number = `req_${Math.random().toString(36).slice(2)}`,
  ): Promise<Frame> {
    this.send(event, data, id);
    return this.next((frame) => frame.id === id);
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("socket did not close");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  /** Asserts nothing more arrives for `ms` (used sparingly: it waits). */
  async quiet(ms = 200): Promise<Frame[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.frames.slice(this.#cursor);
  }

  close(): void {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export async function connect(
  token: string | null,
  init: { headers?: Record<string, string>; query?: string } = {},
): Promise<TestSocket> {
  const query = token === null ? "" : `?token=${encodeURIComponent(token)}`;
  const response = await exports.default.fetch(`http://edge.test/v1/ws${query}${init.query ?? ""}`, {
    headers: { Upgrade: "websocket", ...init.headers },
  });
  if (response.status !== 101 || !response.webSocket) {
    throw new Error(`upgrade refused: ${response.status} ${await response.text()}`);
  }
  const ws = response.webSocket;
  const socket = new TestSocket(ws);
  ws.accept();
  return socket;
}

export async function ingest(body: unknown, token?: string): Promise<Response> {
  return exports.default.fetch("http://edge.test/v1/ingest", {
    method: "POST",
    headers: { Authorization: `Bearer ${token ?? (await publisherToken())}`, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function ingestOk(
  body: unknown,
): Promise<{ results: { event: string; channel: string; key: string | null; seq: number; duplicate?: true }[] }> {
  const response = await ingest(body);
  if (response.status !== 200) throw new Error(`ingest refused: ${response.status} ${await response.text()}`);
  return response.json();
}

let counter = 0;
/** A name no other test uses, so tests share no topic. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}_${Date.now().toString(36)}_${counter}_${Math.random().toString(36).slice(2, 6)}`;
}

export const progress = (simulation_id: string, value: number, extra: Record<string, unknown> = {}) => ({
  event: "simulation_progress",
  data: {
    simulation_id,
    progress: value,
    status: "processing",
    message: `Processing scenario ${value * 10}/1000`,
    ...extra,
  },
});

/** The data of an `update_resource` of the fund (and, with `updated_by`, of an ingested edit). */
export const fundEdit = (fund: string, path: string, value: unknown) => ({
  resource_type: "fund",
  resource_id: fund,
  path,
  value,
});

/** Starts editing the fund on `socket`, and asserts it started. */
export async function startEditing(socket: TestSocket, fund: string, id?: string): Promise<Frame> {
  const reply = await socket.request("start_editing", { resource_type: "fund", resource_id: fund }, id);
  expect(reply.event, JSON.stringify(reply)).toBe("editing_started");
  return reply;
}

/** `GET /v1/resources/fund/:fund` through the Worker, with a reader's token (or `token`). */
export async function readDocument(fund: string, token?: string): Promise<Response> {
  return exports.default.fetch(`http://edge.test/v1/resources/fund/${fund}`, {
    headers: { Authorization: `Bearer ${token ?? (await signToken())}` },
  });
}

/** The fund's document, as `GET /v1/resources/fund/:fund` answers it. */
export async function documentOf(fund: string): Promise<unknown> {
  return ((await (await readDocument(fund)).json()) as { document: unknown }).document;
}
