/**
 * A minimal y-websocket client for tests inside workerd: a Y.Doc synced over a real WebSocket
 * through the Worker, speaking the same frames as the `y-websocket` provider.
 */
import { exports } from "cloudflare:workers";
import * as Y from "yjs";
import {
  type AwarenessEntry,
  decodeAwarenessUpdate,
  decodeYjsMessage,
  encodeAwareness,
  encodeAwarenessUpdate,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
} from "../../src/protocol/yjs/frames";

export class YjsTestClient {
  readonly doc = new Y.Doc();
  readonly awareness = new Map<number, string>();
  readonly denied: string[] = [];
  synced = false;
  closed: { code: number; reason: string } | null = null;
  #clock = 0;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => this.#onMessage(new Uint8Array(event.data as ArrayBuffer)));
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
    });
    this.doc.on("update", (update: Uint8Array, origin: unknown) => {
      if (origin !== this && !this.closed) this.ws.send(encodeUpdate(update));
    });
  }

  #onMessage(frame: Uint8Array): void {
    const message = decodeYjsMessage(frame);
    switch (message.type) {
      case "sync-step1":
        this.ws.send(encodeSyncStep2(Y.encodeStateAsUpdate(this.doc, message.stateVector)));
        break;
      case "sync-step2":
        Y.applyUpdate(this.doc, message.update, this);
        this.synced = true;
        break;
      case "update":
        Y.applyUpdate(this.doc, message.update, this);
        break;
      case "awareness":
        for (const entry of decodeAwarenessUpdate(message.update)) {
          if (entry.state === "null") this.awareness.delete(entry.clientID);
          else this.awareness.set(entry.clientID, entry.state);
        }
        break;
      case "auth":
        this.denied.push(message.reason);
        break;
      default:
        break;
    }
  }

  /** Announces (or clears, with null) this client's presence. */
  setPresence(state: Record<string, unknown> | null, clientID = this.doc.clientID): void {
    this.#clock += 1;
    const entry: AwarenessEntry = { clientID, clock: this.#clock, state: JSON.stringify(state) };
    this.ws.send(encodeAwareness(encodeAwarenessUpdate([entry])));
  }

  get data(): Record<string, unknown> {
    return this.doc.getMap("data").toJSON();
  }

  async until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; data: ${JSON.stringify(this.data)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }
}

export async function connectYjs(path: string, token: string | null): Promise<YjsTestClient> {
  const query = token === null ? "" : `?token=${encodeURIComponent(token)}`;
  const response = await exports.default.fetch(`http://edge.test/v1/yjs/${path}${query}`, {
    headers: { Upgrade: "websocket" },
  });
  if (response.status !== 101 || !response.webSocket) {
    throw new Error(`upgrade refused: ${response.status} ${await response.text()}`);
  }
  const ws = response.webSocket;
  // With current compatibility dates, binary messages arrive as Blob unless asked otherwise.
  ws.binaryType = "arraybuffer";
  const client = new YjsTestClient(ws);
  ws.accept();
  ws.send(encodeSyncStep1(Y.encodeStateVector(client.doc)));
  return client;
}
