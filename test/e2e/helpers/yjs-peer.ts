/**
 * An unmodified y-websocket `WebsocketProvider` (Node's global WebSocket, no BroadcastChannel:
 * peers in one process must meet only through the server) on `/v1/yjs/:type/:id`.
 */
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { waitFor } from "./wait";

export interface YjsPeer {
  label: string;
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** Every close of the provider's socket that came from the server (code and reason). */
  closes: { code: number; reason: string }[];
  /** The shared document as JSON: `doc.getMap("data").toJSON()`. */
  data(): Record<string, unknown>;
  /** Destroys the provider (a normal disconnect) and the doc. Idempotent. */
  destroy(): void;
}

export function openPeer(wsUrl: string, resourceType: string, resourceId: string, token: string, label: string) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`${wsUrl}/v1/yjs/${resourceType}`, resourceId, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    disableBc: true,
    maxBackoffTime: 500,
  });
  const closes: { code: number; reason: string }[] = [];
  provider.on("connection-close", (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  let destroyed = false;
  const peer: YjsPeer = {
    label,
    doc,
    provider,
    closes,
    data: () => doc.getMap("data").toJSON(),
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      provider.destroy();
      doc.destroy();
    },
  };
  return peer;
}

/** Resolves once the provider has synced with the server (y-websocket's `synced`). */
export function waitSynced(peer: YjsPeer, timeoutMs = 5_000): Promise<true> {
  return waitFor(
    `${peer.label}: synced`,
    () => (peer.provider.synced ? true : undefined),
    timeoutMs,
    () => `\ncloses: ${JSON.stringify(peer.closes)}`,
  );
}

/** The nested map `key` of a peer's root map, created (as a local edit) when absent. */
export function nestedMap(peer: YjsPeer, key: string): Y.Map<unknown> {
  const root = peer.doc.getMap("data");
  let map = root.get(key);
  if (!(map instanceof Y.Map)) {
    map = new Y.Map<unknown>();
    root.set(key, map);
  }
  return map as Y.Map<unknown>;
}
