/**
 * A minimal Equihome JSON-protocol client over Node's global WebSocket, for end-to-end tests:
 * it records every frame, sends requests with ids and waits, always with a timeout.
 */
import { waitFor } from "./wait";

export interface Frame {
  event: string;
  data: Record<string, unknown>;
  id?: string | number;
  seq?: number;
}

export class JsonClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;

  private constructor(
    readonly ws: WebSocket,
    readonly label: string,
  ) {
    ws.addEventListener("message", (event) => this.frames.push(JSON.parse(String(event.data)) as Frame));
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
    });
  }

  /** Opens `/v1/ws?token=…` and resolves once the socket is open. */
  static async connect(wsUrl: string, token: string, label = "json", timeoutMs = 5_000): Promise<JsonClient> {
    const ws = new WebSocket(`${wsUrl}/v1/ws?token=${encodeURIComponent(token)}`);
    const client = new JsonClient(ws, label);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`${label}: /v1/ws did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.addEventListener(
        "open",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
      ws.addEventListener(
        "error",
        () => {
          clearTimeout(timer);
          reject(new Error(`${label}: /v1/ws failed to open`));
        },
        { once: true },
      );
    });
    return client;
  }

  /** Sends one client frame; returns its id. */
  send(event: string, data: Record<string, unknown>, id: string | number = `${this.label}_${this.#nextId++}`) {
    this.ws.send(JSON.stringify({ event, data, id }));
    return id;
  }

  /** Sends a request and resolves with the first frame that carries its id (reply, ack or error). */
  async request(event: string, data: Record<string, unknown>, timeoutMs = 5_000): Promise<Frame> {
    const id = this.send(event, data);
    return this.waitFrame(`${event} reply (id ${id})`, (frame) => frame.id === id, timeoutMs);
  }

  /** The first recorded frame (from `from` on) matching `predicate`. */
  waitFrame(what: string, predicate: (frame: Frame) => boolean, timeoutMs = 5_000, from = 0): Promise<Frame> {
    return waitFor(
      `${this.label}: ${what}`,
      () => this.frames.slice(from).find(predicate),
      timeoutMs,
      () => `\nframes: ${JSON.stringify(this.frames)}${this.closed ? `\nclosed: ${JSON.stringify(this.closed)}` : ""}`,
    );
  }

  /** Closes the socket and waits (bounded) for the close to complete. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000, "done");
    await waitFor(`${this.label}: close`, () => this.closed, timeoutMs).catch(() => undefined);
  }
}

/**
 * A JSON editor's view of a document: the `document` of `editing_started`, with every
 * `resource_updated` of that resource applied in the order received.
 */
export function editorView(frames: Frame[], resourceType: string, resourceId: string): Record<string, unknown> {
  const started = frames.find(
    (frame) =>
      frame.event === "editing_started" &&
      frame.data.resource_type === resourceType &&
      frame.data.resource_id === resourceId,
  );
  if (!started) throw new Error(`no editing_started for ${resourceType}/${resourceId}`);
  const view = structuredClone(started.data.document) as Record<string, unknown>;
  for (const frame of frames.slice(frames.indexOf(started) + 1)) {
    if (frame.event !== "resource_updated") continue;
    if (frame.data.resource_type !== resourceType || frame.data.resource_id !== resourceId) continue;
    const segments = String(frame.data.path).split(".");
    const leaf = segments.pop() as string;
    let node = view;
    for (const segment of segments) {
      const next = node[segment];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    }
    if (frame.data.deleted === true) delete node[leaf];
    else node[leaf] = structuredClone(frame.data.value);
  }
  return view;
}
