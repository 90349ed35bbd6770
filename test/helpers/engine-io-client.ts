/**
 * A raw Engine.IO v4 / Socket.IO v5 test client inside workerd: the polling transport through
 * `exports.default.fetch` (GET long-polls, POST of packets joined by \x1e), the WebSocket
 * transport (directly or as an upgrade of a polling session), and helpers to send Socket.IO
 * packets (`40`, `42["authenticate",{...}]`) and to wait for packets. Every wait has a timeout,
 * so a missing packet fails the test instead of hanging it.
 *
 * Packets received are kept in arrival order (`log`); waiting takes the first not-yet-taken
 * packet that matches, leaving the others to later waits.
 */
import { env, exports } from "cloudflare:workers";
import type { SocketIoHubDurableObject } from "../../src/hub/socketio/socketio-hub-durable-object";

export const ORIGIN = "http://edge.test";
export const RS = "\u001e";
const DEFAULT_TIMEOUT_MS = 3000;

/** `/socket.io/?EIO=4&transport=…[&sid=…]`; `extra` is appended as is (`&x=y`). */
export function engineUrl(transport: string, sid?: string, extra = ""): string {
  const sidPart = sid === undefined ? "" : `&sid=${encodeURIComponent(sid)}`;
  return `${ORIGIN}/socket.io/?EIO=4&transport=${transport}${sidPart}${extra}`;
}

export interface Handshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

/** A Socket.IO packet carried in an Engine.IO message packet (`4…`). */
export interface SioMessage {
  type: number;
  nsp: string;
  id?: number;
  data?: unknown;
  /** The Socket.IO text, without the Engine.IO `4`. */
  raw: string;
}

/** Parses the Socket.IO text of a message packet (no attachments expected from the server). */
export function parseSio(text: string): SioMessage {
  let i = 1;
  const message: SioMessage = { type: Number(text.charAt(0)), nsp: "/", raw: text };
  if (message.type === 5 || message.type === 6) i = text.indexOf("-") + 1;
  if (text.charAt(i) === "/") {
    const comma = text.indexOf(",", i);
    message.nsp = text.slice(i, comma < 0 ? text.length : comma);
    i = comma < 0 ? text.length : comma + 1;
  }
  const digits = /^\d+/.exec(text.slice(i))?.[0];
  if (digits) {
    message.id = Number(digits);
    i += digits.length;
  }
  if (i < text.length) message.data = JSON.parse(text.slice(i));
  return message;
}

/** `42["name",...args]` (or `42<id>[...]` with an ack id), as an Engine.IO message packet. */
export function eventPacket(name: string, args: unknown[], ackId?: number): string {
  return `42${ackId ?? ""}${JSON.stringify([name, ...args])}`;
}

/** The hub holding a session: its sid (or a recovery pid) is `<region>.<shard>.<random>`. */
export function hubOfSid(sid: string): DurableObjectStub<SocketIoHubDurableObject> {
  const [region, shard] = sid.split(".");
  return env.SIO_HUB.getByName(`sio:${region}:${shard}`);
}

export interface Closed {
  code: number;
  reason: string;
}

/** What both transports share: the received packets, waits, and Socket.IO helpers. */
export abstract class EngineSocket {
  /** Every Engine.IO packet received, in order. */
  readonly log: string[] = [];
  #pending: string[] = [];
  #waiters: (() => void)[] = [];
  closed: Closed | null = null;
  /** Answer the server's pings (`2`) with pongs (`3`). */
  autoPong: boolean;

  constructor(autoPong: boolean) {
    this.autoPong = autoPong;
  }

  /** Sends Engine.IO packets (one POST, or one frame each). */
  abstract send(...packets: string[]): Promise<void>;
  /** Ends the session from the client side. */
  abstract close(): Promise<void>;

  protected receive(packet: string): void {
    this.log.push(packet);
    this.#pending.push(packet);
    if (packet === "2" && this.autoPong) void this.send("3").catch(() => undefined);
    this.#wake();
  }

  protected markClosed(closed: Closed): void {
    if (this.closed) return;
    this.closed = closed;
    this.#wake();
  }

  /** Takes the first pending packet that matches, waiting for it up to `timeoutMs`. */
  async nextPacket(match: (packet: string) => boolean = () => true, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#pending.findIndex(match);
      if (index >= 0) return this.#pending.splice(index, 1)[0] as string;
      if (this.closed) {
        throw new Error(`session closed (${JSON.stringify(this.closed)}) while waiting; log: ${this.#describe()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching packet within ${timeoutMs} ms; log: ${this.#describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next Socket.IO packet that matches. */
  async nextSio(match: (message: SioMessage) => boolean = () => true, timeoutMs?: number): Promise<SioMessage> {
    const packet = await this.nextPacket((text) => text.startsWith("4") && match(parseSio(text.slice(1))), timeoutMs);
    return parseSio(packet.slice(1));
  }

  /** The arguments of the next `42["name",...]` event. */
  async nextEvent(name: string, timeoutMs?: number): Promise<unknown[]> {
    const message = await this.nextSio(
      (m) => m.type === 2 && m.nsp === "/" && Array.isArray(m.data) && m.data[0] === name,
      timeoutMs,
    );
    return (message.data as unknown[]).slice(1);
  }

  /** The first argument of the next `name` event. */
  async nextEventData<T = Record<string, unknown>>(name: string, timeoutMs?: number): Promise<T> {
    return (await this.nextEvent(name, timeoutMs))[0] as T;
  }

  /** The arguments of the ACK `43<id>[...]`. */
  async nextAck(id: number, timeoutMs?: number): Promise<unknown[]> {
    const message = await this.nextSio((m) => m.type === 3 && m.id === id, timeoutMs);
    return message.data as unknown[];
  }

  /** Waits `ms`, then returns the packets still pending (pings and noops left out). */
  async quiet(ms = 200): Promise<string[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#pending.filter((packet) => packet !== "2" && packet !== "6");
  }

  /** Packets received but not yet taken. */
  get pending(): readonly string[] {
    return this.#pending;
  }

  /** Every event `name` received so far (taken or not), as its argument lists. */
  eventsReceived(name: string): unknown[][] {
    return this.log
      .filter((packet) => packet.startsWith("42"))
      .map((packet) => parseSio(packet.slice(1)).data as unknown[])
      .filter((data) => data[0] === name)
      .map((data) => data.slice(1));
  }

  emit(name: string, ...args: unknown[]): Promise<void> {
    return this.send(eventPacket(name, args));
  }

  emitWithAck(ackId: number, name: string, ...args: unknown[]): Promise<void> {
    return this.send(eventPacket(name, args, ackId));
  }

  /** Socket.IO CONNECT to "/" (optionally with an auth payload); the CONNECT or CONNECT_ERROR reply. */
  async connect(auth?: Record<string, unknown>): Promise<SioMessage> {
    await this.send(`40${auth === undefined ? "" : JSON.stringify(auth)}`);
    return this.nextSio((m) => (m.type === 0 || m.type === 4) && m.nsp === "/");
  }

  /** CONNECT, then `authenticate`; resolves on `auth-success`, throws on anything else. */
  async login(userId: string, token: string): Promise<{ sid: string; pid: string }> {
    const reply = await this.connect();
    if (reply.type !== 0) throw new Error(`CONNECT refused: ${reply.raw}`);
    await this.emit("authenticate", { userId, token });
    const answer = await this.nextSio(
      (m) => m.type === 2 && Array.isArray(m.data) && (m.data[0] === "auth-success" || m.data[0] === "auth-error"),
    );
    if ((answer.data as unknown[])[0] !== "auth-success") throw new Error(`authenticate refused: ${answer.raw}`);
    return reply.data as { sid: string; pid: string };
  }

  /** Sends an event with an ack id and returns the ack's arguments. */
  async request(ackId: number, name: string, ...args: unknown[]): Promise<unknown[]> {
    await this.emitWithAck(ackId, name, ...args);
    return this.nextAck(ackId);
  }

  async waitClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Closed> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`session did not close within ${timeoutMs} ms; log: ${this.#describe()}`);
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

  #describe(): string {
    const text = JSON.stringify(this.log);
    return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Splits a polling response body into its packets. */
export function decodePayload(body: string): string[] {
  return body.split(RS);
}

/** Parses an open packet `0{...}`. */
export function parseOpen(packet: string): Handshake {
  if (!packet.startsWith("0")) throw new Error(`expected an open packet, got ${JSON.stringify(packet)}`);
  return JSON.parse(packet.slice(1)) as Handshake;
}

/** The HTTP long-polling transport. */
export class PollingSocket extends EngineSocket {
  #loop: Promise<void> | null = null;
  #paused = false;
  /** Responses of the GETs made by the background loop, in order: their raw bodies. */
  readonly pollBodies: string[] = [];

  private constructor(
    readonly handshake: Handshake,
    private readonly headers: Record<string, string>,
    autoPong: boolean,
  ) {
    super(autoPong);
  }

  get sid(): string {
    return this.handshake.sid;
  }

  /** Handshake over polling; `start()` begins the background long-poll loop. */
  static async open(options: { headers?: Record<string, string>; autoPong?: boolean } = {}): Promise<PollingSocket> {
    const response = await exports.default.fetch(engineUrl("polling"), { headers: options.headers ?? {} });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`polling handshake refused: ${response.status} ${body}`);
    const packets = decodePayload(body);
    const socket = new PollingSocket(parseOpen(packets[0] ?? ""), options.headers ?? {}, options.autoPong ?? true);
    return socket;
  }

  /** One raw GET of this session (not via the loop). */
  get(): Promise<Response> {
    return exports.default.fetch(engineUrl("polling", this.sid), { headers: this.headers });
  }

  /** One raw POST of a body to this session. */
  post(body: string): Promise<Response> {
    return exports.default.fetch(engineUrl("polling", this.sid), {
      method: "POST",
      headers: { "Content-Type": "text/plain;charset=UTF-8", ...this.headers },
      body,
    });
  }

  /** Long-polls in the background, feeding packets to the waits, until closed or paused. */
  start(): this {
    if (this.#loop) return this;
    this.#paused = false;
    this.#loop = (async () => {
      while (!this.closed && !this.#paused) {
        let response: Response;
        try {
          response = await this.get();
        } catch (error) {
          this.markClosed({ code: -1, reason: `poll failed: ${String(error)}` });
          break;
        }
        const body = await response.text();
        if (response.status !== 200) {
          this.markClosed({ code: response.status, reason: body });
          break;
        }
        this.pollBodies.push(body);
        for (const packet of decodePayload(body)) {
          this.receive(packet);
          if (packet === "1") this.markClosed({ code: 1000, reason: "close packet" });
        }
      }
    })();
    return this;
  }

  /** Stops polling: resolves once the GET in flight has been answered and no new one started. */
  async pause(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    this.#paused = true;
    const loop = this.#loop;
    this.#loop = null;
    if (!loop) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      loop,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the pending poll was not released within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  /** Sends packets in one POST; throws unless the server answers 200 "ok". */
  async send(...packets: string[]): Promise<void> {
    const response = await this.post(packets.join(RS));
    const body = await response.text();
    if (response.status !== 200 || body !== "ok") throw new Error(`POST refused: ${response.status} ${body}`);
  }

  /** Sends the close packet (which also releases a pending poll) and stops the loop. */
  async close(): Promise<void> {
    if (!this.closed) {
      await this.post("1")
        .then((response) => response.text())
        .catch(() => undefined);
    }
    this.markClosed({ code: 1000, reason: "client close" });
    await this.pause(1000).catch(() => undefined);
  }
}

/** The WebSocket transport: a session opened directly, or a polling session's upgrade. */
export class WebSocketSocket extends EngineSocket {
  handshake: Handshake | null = null;

  private constructor(
    readonly ws: WebSocket,
    autoPong: boolean,
  ) {
    super(autoPong);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (event) => {
      this.receive(typeof event.data === "string" ? event.data : `<binary ${(event.data as ArrayBuffer).byteLength}>`);
    });
    ws.addEventListener("close", (event) => this.markClosed({ code: event.code, reason: event.reason }));
    ws.addEventListener("error", () => this.markClosed({ code: -1, reason: "error" }));
    ws.accept();
  }

  get sid(): string {
    if (!this.handshake) throw new Error("no handshake on this WebSocket");
    return this.handshake.sid;
  }

  /** `transport=websocket` without a sid: the server's first frame is the open packet. */
  static async open(options: { headers?: Record<string, string>; autoPong?: boolean } = {}): Promise<WebSocketSocket> {
    const socket = await WebSocketSocket.upgrade(engineUrl("websocket"), options);
    socket.handshake = parseOpen(await socket.nextPacket());
    return socket;
  }

  /** A WebSocket to `url` (with `Upgrade: websocket`); throws unless the answer is 101. */
  static async upgrade(
    url: string,
    options: { headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<WebSocketSocket> {
    const response = await exports.default.fetch(url, { headers: { Upgrade: "websocket", ...options.headers } });
    if (response.status !== 101 || !response.webSocket) {
      throw new Error(`upgrade refused: ${response.status} ${await response.text()}`);
    }
    return new WebSocketSocket(response.webSocket, options.autoPong ?? true);
  }

  /** The probe WebSocket of a polling session's upgrade (no open packet on it). */
  static probe(sid: string, options: { autoPong?: boolean } = {}): Promise<WebSocketSocket> {
    return WebSocketSocket.upgrade(engineUrl("websocket", sid), options);
  }

  async send(...packets: string[]): Promise<void> {
    for (const packet of packets) this.ws.send(packet);
  }

  /** Closes the WebSocket and waits for the server to complete the closing handshake. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
    await this.waitClosed(2000).catch(() => undefined);
  }
}
