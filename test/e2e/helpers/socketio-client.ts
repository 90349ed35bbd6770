/**
 * The real `socket.io-client` against the dev server, recorded: every event a socket receives
 * (with all its arguments, including the recovery offset the server appends to room events),
 * waits with timeouts, and a switch that holds a default client's upgrade to WebSocket at
 * chosen points so that a test can publish while the upgrade is under way.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { waitFor } from "./wait";

export interface Received {
  event: string;
  args: unknown[];
}

export class RecordedSocket {
  readonly socket: Socket;
  readonly received: Received[] = [];

  constructor(
    url: string,
    options: Partial<ManagerOptions & SocketOptions> = {},
    readonly label = "client",
  ) {
    // forceNew: no Manager (and engine) shared with another client of the same URL.
    this.socket = io(url, { forceNew: true, ...options });
    this.socket.onAny((event: string, ...args: unknown[]) => {
      this.received.push({ event, args });
    });
  }

  /** The first argument of each `event` received so far. */
  payloads<T = Record<string, unknown>>(event: string): T[] {
    return this.received.filter((entry) => entry.event === event).map((entry) => entry.args[0] as T);
  }

  /** Waits for an `event` whose first argument satisfies `match`; returns all its arguments. */
  waitEvent(
    event: string,
    match: (payload: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<unknown[]> {
    return waitFor(
      `${this.label}: ${event}`,
      () =>
        this.received.find((entry) => entry.event === event && match(entry.args[0] as Record<string, unknown>))?.args,
      timeoutMs,
      () => `\n${this.label} received: ${JSON.stringify(this.received).slice(0, 4000)}`,
    );
  }

  waitConnected(timeoutMs = 10_000): Promise<true> {
    return waitFor(
      `${this.label}: connect`,
      () => (this.socket.connected ? true : undefined),
      timeoutMs,
      () => `\n${this.label} received: ${JSON.stringify(this.received).slice(0, 4000)}`,
    );
  }

  /** `emitWithAck` with a timeout. */
  ack(event: string, ...args: unknown[]): Promise<unknown> {
    return this.socket.timeout(10_000).emitWithAck(event, ...args);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** Resolves with the first emission of `event` on `emitter`, or rejects after `timeoutMs`. */
export function once<T extends unknown[]>(
  emitter: { once(event: string, listener: (...args: T) => void): unknown },
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`)),
      timeoutMs,
    );
    emitter.once(event, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

interface EnginePacket {
  type: string;
  data?: unknown;
}

interface ProbeTransport {
  name: string;
  open(): unknown;
  send(packets: EnginePacket[]): void;
}

/**
 * Holds a default (polling first) client's upgrade at two points. Call right after `io()`:
 * the Engine.IO socket exists then, and its probe has not started.
 *
 * - `startProbe()`: the WebSocket probe opens only when called, so the session stays on polling
 *   until the test has subscribed and checked delivery over polling.
 * - `upgradeHeld`: resolves when the probe succeeded (`2probe`/`3probe`), polling has paused
 *   and the client is about to send the `upgrade` packet: the window in which the server must
 *   buffer events for the new transport. The packet (and anything after it) is held until
 *   `finishUpgrade()`.
 */
export function holdUpgrade(socket: Socket) {
  const engine = socket.io.engine as unknown as {
    createTransport(name: string): ProbeTransport;
    once(event: "upgrading", listener: (transport: ProbeTransport) => void): void;
  };
  let startProbe: () => void = () => {};
  const probeGate = new Promise<void>((resolve) => {
    startProbe = resolve;
  });
  const createTransport = engine.createTransport.bind(engine);
  engine.createTransport = (name: string) => {
    const transport = createTransport(name);
    if (name === "websocket") {
      const open = transport.open.bind(transport);
      transport.open = () => {
        void probeGate.then(() => open());
        return transport;
      };
    }
    return transport;
  };

  let heldUpgrade: () => void = () => {};
  const upgradeHeld = new Promise<void>((resolve) => {
    heldUpgrade = resolve;
  });
  let finishUpgrade: () => void = () => {};
  engine.once("upgrading", (transport) => {
    const send = transport.send.bind(transport);
    const held: EnginePacket[][] = [];
    transport.send = (packets) => {
      held.push(packets);
      if (packets.some((packet) => packet.type === "upgrade")) heldUpgrade();
    };
    finishUpgrade = () => {
      transport.send = send;
      for (const packets of held.splice(0)) send(packets);
    };
  });
  return { startProbe, upgradeHeld, finishUpgrade: () => finishUpgrade() };
}
