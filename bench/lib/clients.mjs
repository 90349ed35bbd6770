/**
 * The bench's client harness, the same for every target: plain WebSocket clients (`ws`, no
 * compression) speaking the Equihome JSON protocol to the edge and to the ws peer, and
 * `socket.io-client` 4.x (websocket transport only, no reconnection, no compression) for the
 * edge's Socket.IO route and the Socket.IO peer. Every wait has a timeout.
 */
import { io } from "socket.io-client";
import WebSocket from "ws";

/** Rejects after `ms` unless `promise` settles first; `onTimeout` cleans up. */
export function withTimeout(promise, ms, what, onTimeout) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.();
        reject(new Error(`${what}: no answer within ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A JSON-protocol WebSocket: `frames` callback for every parsed frame, `request()` resolving with
 * the first frame that carries the request's id.
 */
export class JsonSocket {
  #pending = new Map();
  #nextId = 1;
  closed = null;

  constructor(url, onFrame) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 20_000 });
    this.onFrame = onFrame;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("close", (code) => reject(new Error(`closed before open (${code})`)));
    });
    this.opened.catch(() => {});
    this.ws.on("error", () => {});
    this.ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (frame.id !== undefined && this.#pending.has(frame.id)) {
        const { resolve } = this.#pending.get(frame.id);
        this.#pending.delete(frame.id);
        resolve(frame);
      }
      this.onFrame?.(frame);
    });
    this.ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const { reject } of this.#pending.values()) reject(new Error(`socket closed (${code} ${reason})`));
      this.#pending.clear();
    });
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(event, data, id) {
    this.ws.send(JSON.stringify(id === undefined ? { event, data } : { event, data, id }));
  }

  request(event, data, timeoutMs = 20_000) {
    const id = `r${this.#nextId++}`;
    const reply = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.send(event, data, id);
    return withTimeout(reply, timeoutMs, `${event} reply`, () => this.#pending.delete(id));
  }

  close() {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
  }

  terminate() {
    this.ws.terminate();
  }

  /** Resolves once closed (or after `ms`). */
  async closeAndWait(ms = 2_000) {
    if (this.closed || this.ws.readyState === WebSocket.CLOSED) return;
    const done = new Promise((resolve) => this.ws.once("close", resolve));
    this.close();
    await withTimeout(done, ms, "close", () => this.terminate()).catch(() => {});
  }
}

const SIO_OPTIONS = {
  transports: ["websocket"],
  reconnection: false,
  forceNew: true,
  multiplex: false,
  timeout: 20_000,
  perMessageDeflate: false,
};

/**
 * A subscriber of one target, connected and subscribed when `ready` resolves.
 * `onEvent(kind, payload)` gets every broadcast event of the workload (`simulation_progress`
 * data, or the `market-update` data).
 *
 * - edge-json: /v1/ws?token=…, `subscribe` simulation_updates/<key> → `subscribed`
 * - bare-do:   the same frames to bench/peers/bare-do (token ignored)
 * - ws-peer:   the same frames to the bare ws server (token ignored)
 * - sio-peer:  socket.io-client with the token in the handshake query (the seed's middleware),
 *              emit `subscribe` {data, id} → `subscribed`
 * - edge-sio:  socket.io-client to /socket.io/, emit `authenticate` {userId, token} →
 *              `auth-success`, emit `subscribe-market` [key] → `market-subscribed`
 * - base-json, base-sio: the edge-json and edge-sio clients, against the baseline commit's edge
 */
export function subscriber(target0, { wsUrl, httpUrl, token, userId, key, onEvent, onError, timeoutMs = 20_000 }) {
  const target = clientKind(target0);
  if (target === "edge-json" || target === "bare-do" || target === "ws-peer") {
    const path = target === "ws-peer" ? "/" : "/v1/ws";
    const socket = new JsonSocket(`${wsUrl}${path}?token=${encodeURIComponent(token)}`, (frame) => {
      if (frame.event === "simulation_progress") onEvent(frame.data);
      else if (frame.event === "error") onError?.(frame.data);
    });
    const ready = (async () => {
      await withTimeout(socket.opened, timeoutMs, "open", () => socket.terminate());
      const reply = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: key }, timeoutMs);
      if (reply.event !== "subscribed") throw new Error(`subscribe refused: ${JSON.stringify(reply)}`);
    })();
    return {
      ready,
      isOpen: () => socket.open,
      close: () => socket.closeAndWait(),
    };
  }
  if (target === "sio-peer" || target === "edge-sio") {
    const socket = io(httpUrl, { ...SIO_OPTIONS, ...(target === "sio-peer" ? { query: { token } } : {}) });
    socket.on("error", (data) => onError?.(data));
    const ready = withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect_error", (error) => reject(new Error(`connect_error: ${error.message}`)));
        socket.once("disconnect", (reason) => reject(new Error(`disconnected: ${reason}`)));
        if (target === "sio-peer") {
          socket.on("simulation_progress", (message) => onEvent(message.data));
          socket.once("connect", () =>
            socket.emit("subscribe", { data: { channel: "simulation_updates", simulation_id: key }, id: "s1" }),
          );
          socket.once("subscribed", () => resolve());
        } else {
          socket.on("market-update", (data) => onEvent(data));
          socket.once("connect", () => socket.emit("authenticate", { userId, token }));
          socket.once("auth-error", (data) => reject(new Error(`auth-error: ${JSON.stringify(data)}`)));
          socket.once("auth-success", () => socket.emit("subscribe-market", [key]));
          socket.once("market-subscribed", () => resolve());
        }
      }),
      timeoutMs,
      `${target} connect+subscribe`,
      () => socket.disconnect(),
    );
    return {
      ready,
      isOpen: () => socket.connected,
      close: async () => {
        socket.disconnect();
      },
    };
  }
  throw new Error(`unknown target ${target}`);
}

/** The client a target speaks to: a baseline edge (`base-*`) is spoken to as the edge. */
export function clientKind(target) {
  return target.startsWith("base-") ? `edge-${target.slice("base-".length)}` : target;
}
