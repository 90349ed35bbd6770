/**
 * The Socket.IO hub: holds Engine.IO sessions (polling and WebSocket) and the Socket.IO sockets
 * on them, named `sio:<region>:<shard>`; a session id names its hub. Lifecycle and dispatch
 * only: the socket host (socket-host/) owns hibernation, the alarm and the inbound pipeline, the
 * hub base (../hub.ts) the subscriptions, Engine.IO (engine-io.ts) the transport and heartbeat,
 * and Socket.IO (socketio-protocol.ts) what the packets mean.
 *
 * Engine.IO pongs on a WebSocket are answered by the runtime (which keeps their time), so a pong
 * does not wake the hub; the heartbeat runs from the alarm every PING_INTERVAL_MS.
 */
import * as v from "valibot";
import { accessEndsAt } from "../../auth/principal";
import { authConfigFromEnv } from "../../auth/verify-token";
import type { Env } from "../../env";
import { HUB_NAME_HEADER } from "../../internal-headers";
import type { TopicEvent } from "../../protocol/topics";
import { AttachmentIdSchema, PrincipalSchema } from "../../socket-host/attachment";
import { receive } from "../../socket-host/inbound";
import { Hub, hubAttachment } from "../hub";
import { newSessionId, parseShardCount, sioHubOfSessionId } from "../shard";
import type { LocalSubscription } from "../subscriptions";
import { EngineIo, type EngineSession, PING_INTERVAL_MS } from "./engine-io";
import { recoverySetting } from "./recovery-log";
import { type RecoveryRecord, type SioSocket, SocketIoProtocol, sioExpiresAt, sioSocket } from "./socketio-protocol";
import { SocketIoStore } from "./socketio-store";

/** How long a closed Socket.IO session can be resumed (socket.io's default). */
export const RECOVERY_WINDOW_MS = 2 * 60 * 1000;

/** A WebSocket session through hibernation: its ids, its Socket.IO state, when it opened. */
const SioSocketSchema = v.object({
  /** The Engine.IO sid, also the key of the session's subscription rows. */
  id: AttachmentIdSchema,
  sioId: v.nullable(AttachmentIdSchema),
  pid: v.nullable(AttachmentIdSchema),
  principal: v.nullable(PrincipalSchema),
  openedAt: v.number(),
});
type SioSocketData = v.InferOutput<typeof SioSocketSchema>;
const ATTACHMENT = hubAttachment("hub.sio", 1, SioSocketSchema);

export class SocketIoHubDurableObject extends Hub<SioSocket, SioSocketData> {
  /** Socket.IO sockets by Engine.IO sid. */
  #sockets = new Map<string, SioSocket>();
  #sioStore: SocketIoStore;
  #engine: EngineIo;
  #sio: SocketIoProtocol;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, ATTACHMENT);
    this.#sioStore = new SocketIoStore(ctx.storage.sql);
    this.#engine = new EngineIo(
      {
        opened: (session) => {
          this.#sockets.set(session.sid, sioSocket(session));
          this.planner.by(this.#nextPingAt());
        },
        acceptWebSocket: (session, ws) => this.#withSocket(session, (socket) => this.#acceptWebSocket(socket, ws)),
        upgraded: (session) => this.#withSocket(session, (socket) => this.persist(socket)),
        closed: (session) => this.#withSocket(session, (socket) => this.#closedSession(socket)),
        message: (session, data) =>
          this.#withSocket(session, (socket) => void receive(this.#sio, socket, data, Date.now())),
      },
      () => newSessionId(this.hubName()),
    );
    this.#sio = new SocketIoProtocol({
      engine: this.#engine,
      index: this.index,
      sockets: () => this.#sockets.values(),
      authConfig: () => authConfigFromEnv(this.env),
      saveSession: (socket) => this.persist(socket),
      principalChanged: (socket) => {
        if (socket.principal) this.planner.expiry(accessEndsAt(socket.principal));
      },
      recoveryByDefault: () => recoverySetting(this.env.SOCKETIO_RECOVERY),
      newPid: () => newSessionId(this.hubName()),
      takeRecovery: (pid) => this.#takeRecoveryFrom(pid),
    });
    // Engine.IO pongs (`3`) are answered by the runtime without waking the hub (with a noop,
    // which clients ignore); the runtime keeps each socket's last pong time for the heartbeat.
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("3", "6"));
    const lastPingAt = this.#sioStore.lastPingAt();
    this.restoreHub((ws, { id, sioId, pid, principal, openedAt }) => {
      const socket = sioSocket(this.#engine.resume(id, ws, openedAt, lastPingAt), { sioId, pid, principal });
      this.#sockets.set(id, socket);
      return socket;
    });
  }

  /** Any Engine.IO request, routed here by the Worker (which checked EIO and transport). */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(HUB_NAME_HEADER);
    if (!name) return new Response("hubs accept only requests forwarded by the Worker", { status: 400 });
    this.rememberName(name);
    return this.#engine.fetch(request);
  }

  /** Hands over (once) what a closed session left for connection state recovery. */
  async takeRecovery(pid: string): Promise<RecoveryRecord | null> {
    return this.#sioStore.takeRecovery(pid, Date.now());
  }

  /**
   * Recovery records live on the hub of the session that left them; the pid names it. The pid
   * comes from an unauthenticated CONNECT: only a hub the configuration names is ever addressed.
   */
  async #takeRecoveryFrom(pid: string): Promise<RecoveryRecord | null> {
    const hub = sioHubOfSessionId(pid, parseShardCount(this.env.HUB_SHARDS));
    if (hub === null) return null;
    if (hub === this.hubName()) return this.#sioStore.takeRecovery(pid, Date.now());
    return this.env.SIO_HUB.getByName(hub).takeRecovery(pid);
  }

  #withSocket(session: EngineSession, use: (socket: SioSocket) => void): void {
    const socket = this.#sockets.get(session.sid);
    if (socket?.engine === session) use(socket);
  }

  #acceptWebSocket(socket: SioSocket, ws: WebSocket): void {
    this.accept(ws, socket);
    this.persist(socket);
  }

  /** A session ended: keep what recovery needs, then drop its subscriptions. */
  #closedSession(socket: SioSocket): void {
    for (const ws of [socket.engine.ws, socket.engine.probe]) if (ws) this.untrack(ws);
    this.#sockets.delete(socket.id);
    const record = this.#sio.recoveryRecord(socket);
    if (record && socket.pid !== null) this.#sioStore.putRecovery(socket.pid, record, Date.now() + RECOVERY_WINDOW_MS);
    this.forget(socket);
  }

  protected override sessionCount(): number {
    return this.#engine.size;
  }

  #nextPingAt(): number {
    return (this.#sioStore.lastPingAt() ?? Date.now()) + PING_INTERVAL_MS;
  }

  // The socket host's hooks.

  protected sockets(): Iterable<SioSocket> {
    return this.#sockets.values();
  }

  protected expiresAt(socket: SioSocket): number {
    return sioExpiresAt(socket);
  }

  protected expire(socket: SioSocket): void {
    this.#sio.expire(socket);
  }

  protected async frame(socket: SioSocket, ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    this.#engine.onWebSocketMessage(socket.engine, ws, frame);
  }

  protected closed(socket: SioSocket, ws: WebSocket): void {
    this.#engine.onWebSocketClose(socket.engine, ws);
  }

  /** Lease renewals, then the heartbeat, then recovery records past their window go. */
  protected override async tick(now: number): Promise<void> {
    await super.tick(now);
    if (this.#engine.size > 0) {
      const lastPingAt = this.#sioStore.lastPingAt();
      if (lastPingAt === null || now - lastPingAt >= PING_INTERVAL_MS - 1000) {
        this.#engine.heartbeat(now, (ws) => this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null);
        this.#sioStore.setLastPingAt(now);
      }
    }
    this.#sioStore.pruneRecovery(now);
  }

  protected override dueAt(): number {
    return Math.min(super.dueAt(), this.#engine.size > 0 ? this.#nextPingAt() : Number.POSITIVE_INFINITY);
  }

  // The hub's hooks.

  protected emit(socket: SioSocket, subscription: LocalSubscription, event: TopicEvent): void {
    this.#sio.emitTopicEvent(socket, subscription, event);
  }

  protected resync(socket: SioSocket, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void {
    this.#sio.resync(socket, subscription, seq, latest);
  }

  protected attachmentOf(socket: SioSocket): { ws: WebSocket; data: SioSocketData } | null {
    const { ws, openedAt } = socket.engine;
    if (!ws) return null;
    const { id, sioId, pid, principal } = socket;
    return { ws, data: { id, sioId, pid, principal, openedAt } };
  }
}
