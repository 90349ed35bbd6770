/**
 * A Durable Object that holds client sockets, the lifecycle written once: accept with the
 * WebSocket Hibernation API, restore after a wake from each socket's attachment, the one alarm
 * (alarm-planner.ts) for token expiries and whatever periodic work the object adds, and the
 * socket events of the runtime routed to the socket they belong to. What the frames mean is the
 * subclass's: it feeds them to the inbound pipeline (inbound.ts) with its protocol's wire.
 *
 * A subclass calls {@link restoreSockets} at the end of its constructor (its own fields exist
 * only then), and keeps every socket it holds, hibernatable or not, in {@link sockets}.
 *
 * It is a base class, not a helper the object holds, because the runtime delivers socket events
 * and the alarm to methods of the Durable Object class itself. Its subclasses are the two hubs
 * and the document: for the document, sockets are one job of several, so its periodic work
 * ({@link tick}, {@link dueAt}) is the document's own (publishing, compaction), and the sockets'
 * meaning stays in a part it holds (document/yjs-connections.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { CLOSE_CODES } from "../protocol/errors";
import { AlarmPlanner } from "./alarm-planner";
import type { AttachmentKind } from "./attachment";
import { expireOnce, type InboundSocket } from "./inbound";

export abstract class SocketHost<E, S extends InboundSocket> extends DurableObject<E> {
  protected readonly planner: AlarmPlanner;
  /** The socket each hibernatable WebSocket belongs to (several may share one: a probe). */
  readonly #byWebSocket = new Map<WebSocket, S>();
  /** Work started by a socket event that nobody else waits for ({@link later}). */
  readonly #later = new Set<Promise<void>>();

  constructor(ctx: DurableObjectState, env: E) {
    super(ctx, env);
    this.planner = new AlarmPlanner(ctx.storage);
  }

  /** Every socket held, for the expiry sweep. */
  protected abstract sockets(): Iterable<S>;
  /** When a socket's token ends (ms); +Infinity while it has none. */
  protected abstract expiresAt(socket: S): number;
  /** Tells a socket its token expired and closes it (its protocol's way). */
  protected abstract expire(socket: S): void;
  /** One frame from a socket's WebSocket. */
  protected abstract frame(socket: S, ws: WebSocket, frame: string | ArrayBuffer): Promise<void>;
  /** A WebSocket of the socket closed or failed; it is no longer indexed. */
  protected abstract closed(socket: S, ws: WebSocket): void;
  /** The periodic work of the alarm, other than expiries. */
  protected abstract tick(now: number): Promise<void>;
  /** When the periodic work is next due (+Infinity: none). */
  protected abstract dueAt(): number;

  /** Accepts a WebSocket for hibernation as (one of) the socket's. */
  protected accept(ws: WebSocket, socket: S): void {
    this.ctx.acceptWebSocket(ws);
    this.#byWebSocket.set(ws, socket);
  }

  /** Forgets a WebSocket (the socket closed or dropped it). */
  protected untrack(ws: WebSocket): void {
    this.#byWebSocket.delete(ws);
  }

  protected get webSocketCount(): number {
    return this.#byWebSocket.size;
  }

  /**
   * Work a socket event starts that nobody waits for (telling others a socket left, publishing
   * what a socket's frame stored): the handler of the event (a socket event or the alarm) waits
   * for it before it returns, so nothing floats past the event. Work started elsewhere (an RPC
   * whose relay ended an expired socket) is held the same way until the next handler waits for
   * it. A failure is logged with `what`.
   */
  protected later(task: Promise<void>, what: string): void {
    const tracked: Promise<void> = task
      .catch((error: unknown) => console.error(`${what} failed`, error))
      .finally(() => this.#later.delete(tracked));
    this.#later.add(tracked);
  }

  /** Waits for the work of {@link later}, also what that work started in turn. */
  async #settle(): Promise<void> {
    while (this.#later.size > 0) await Promise.all(this.#later);
  }

  /**
   * After a wake: every hibernated WebSocket comes back through `revive` with its attachment;
   * one whose attachment is missing or of another kind or version is closed, for the client
   * to reconnect to a clean state. Call {@link restored} once everything is back.
   */
  protected restoreSockets<A>(kind: AttachmentKind<A>, revive: (ws: WebSocket, data: A) => S): void {
    for (const ws of this.ctx.getWebSockets()) {
      const data = kind.read(ws);
      if (data === null) {
        ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
        continue;
      }
      this.#byWebSocket.set(ws, revive(ws, data));
    }
  }

  /**
   * Every socket folded its expiry into the stored alarm when it arrived, so after a wake the
   * stored alarm is due no later than what the sockets and the periodic work need now: knowing
   * it saves a storage write per wake.
   */
  protected restored(): void {
    this.planner.assume(this.#nextAlarm());
  }

  /**
   * Whether the socket's token has run out, telling it (once) if so. Called before anything is
   * sent to a socket unasked, so that an expiry planned a bucket late lets nothing through.
   */
  protected expireIfDue(socket: S, now: number): boolean {
    if (this.expiresAt(socket) > now) return false;
    // Once, whether the pipeline (a frame after the expiry) or this check tells it first.
    expireOnce(socket, () => this.expire(socket));
    return true;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const socket = this.#byWebSocket.get(ws);
    if (!socket) {
      ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
      return;
    }
    await this.frame(socket, ws, message);
    await this.#settle();
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#dropped(ws);
    // Complete the closing handshake (a no-op if we started it).
    try {
      ws.close(code === 1005 || code === 1006 ? CLOSE_CODES.normal : code, "closed");
    } catch {
      // already closed
    }
    await this.#settle();
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#dropped(ws);
    await this.#settle();
  }

  #dropped(ws: WebSocket): void {
    const socket = this.#byWebSocket.get(ws);
    if (!socket) return;
    this.#byWebSocket.delete(ws);
    this.closed(socket, ws);
  }

  /** Token expiries, then the subclass's periodic work; then the next alarm. */
  override async alarm(): Promise<void> {
    this.planner.fired();
    const now = Date.now();
    let expired = 0;
    for (const socket of [...this.sockets()]) if (this.expireIfDue(socket, now)) expired += 1;
    if (expired > 0) this.planner.expired(now);
    await this.tick(now);
    await this.#settle();
    this.planner.by(this.#nextAlarm());
  }

  /**
   * The earliest of the sockets' expiries (spaced, alarm-planner.ts) and the periodic work. A
   * full scan, for the alarm itself and a wake; a new socket or token only moves the alarm
   * earlier (`planner.expiry`), so connecting stays O(1).
   */
  #nextAlarm(): number {
    let expiry = Number.POSITIVE_INFINITY;
    for (const socket of this.sockets()) expiry = Math.min(expiry, this.expiresAt(socket));
    return Math.min(Number.isFinite(expiry) ? this.planner.expiryAt(expiry) : expiry, this.dueAt());
  }
}
