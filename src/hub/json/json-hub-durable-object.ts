/**
 * The JSON hub: holds the Equihome JSON protocol's sockets (`/v1/ws`), named
 * `hub:<region>:<shard>`, one user's sockets per region on one hub. Lifecycle and dispatch
 * only: the socket host (socket-host/) owns hibernation, the alarm and the inbound pipeline,
 * the hub base (../hub.ts) the subscriptions, and the protocol (equihome-protocol.ts) what the
 * frames mean.
 */
import * as v from "valibot";
import { accessEndsAt, type Principal } from "../../auth/principal";
import { authConfigFromEnv } from "../../auth/verify-token";
import type { Env } from "../../env";
import { HUB_NAME_HEADER, PRINCIPAL_HEADER } from "../../internal-headers";
import { encodeServerEvent } from "../../protocol/equihome/codec";
import { CLOSE_CODES } from "../../protocol/errors";
import { MAX_JSON_SOCKETS_PER_USER } from "../../protocol/limits";
import type { DirectEvent, TopicEvent } from "../../protocol/topics";
import { AttachmentIdSchema, PrincipalSchema } from "../../socket-host/attachment";
import { receive } from "../../socket-host/inbound";
import { MessageRateLimiter } from "../../socket-host/rate-limiter";
import { refusedSocket } from "../../socket-host/refused-socket";
import { safeJson } from "../../storage/sql";
import { Hub, hubAttachment } from "../hub";
import type { LocalSubscription } from "../subscriptions";
import { connectionLimitFrame, EquihomeProtocol, type JsonSocket } from "./equihome-protocol";

const JsonSocketSchema = v.object({ id: AttachmentIdSchema, principal: PrincipalSchema });
type JsonSocketData = v.InferOutput<typeof JsonSocketSchema>;
const ATTACHMENT = hubAttachment("hub.json", 1, JsonSocketSchema);

export class JsonHubDurableObject extends Hub<JsonSocket, JsonSocketData> {
  #byId = new Map<string, JsonSocket>();
  /** Open sockets per user (`sub`), for MAX_JSON_SOCKETS_PER_USER. */
  #perUser = new Map<string, number>();
  #protocol: EquihomeProtocol;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, ATTACHMENT);
    this.#protocol = new EquihomeProtocol({
      index: this.index,
      authConfig: () => authConfigFromEnv(this.env),
      hubName: () => this.hubName(),
      document: (name) => this.env.DOCUMENT.getByName(name),
      principalChanged: (socket) => {
        this.persist(socket);
        this.planner.expiry(accessEndsAt(socket.principal));
      },
      close: (socket, code, reason) => this.#close(socket, code, reason),
      isOpen: (socket) => this.#byId.get(socket.id) === socket,
    });
    this.restoreHub((ws, { id, principal }) => this.#track(ws, id, principal));
  }

  /** An upgrade the Worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(HUB_NAME_HEADER);
    const principal = v.safeParse(PrincipalSchema, safeJson(request.headers.get(PRINCIPAL_HEADER)));
    if (!name || !principal.success || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("hubs accept only upgrades forwarded by the Worker", { status: 400 });
    }
    this.rememberName(name);
    // A user's sockets all land on this hub (per region): count them here.
    if ((this.#perUser.get(principal.output.sub) ?? 0) >= MAX_JSON_SOCKETS_PER_USER) {
      return refusedSocket(CLOSE_CODES.policy_violation, "too many connections", connectionLimitFrame());
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const socket = this.#track(server, crypto.randomUUID(), principal.output);
    this.accept(server, socket);
    this.persist(socket);
    this.planner.expiry(accessEndsAt(socket.principal));
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Sends one event to some of this hub's sockets (editors_updated from a document), encoded
   * here, once. Returns the ids it no longer has (or whose token ran out), so the sender can
   * forget them.
   */
  async sendEvent(socketIds: string[], event: DirectEvent): Promise<{ missing: string[] }> {
    const frame = encodeServerEvent(event);
    const missing: string[] = [];
    const now = Date.now();
    for (const id of socketIds) {
      const socket = this.#byId.get(id);
      try {
        if (!socket || this.expireIfDue(socket, now)) throw new Error("gone");
        socket.ws.send(frame);
      } catch {
        missing.push(id);
      }
    }
    return { missing };
  }

  #track(ws: WebSocket, id: string, principal: Principal): JsonSocket {
    const socket: JsonSocket = {
      id,
      ws,
      principal,
      subscriptions: new Map(),
      rate: new MessageRateLimiter(Date.now()),
      inbox: Promise.resolve(),
    };
    this.#byId.set(id, socket);
    this.#perUser.set(principal.sub, (this.#perUser.get(principal.sub) ?? 0) + 1);
    return socket;
  }

  #close(socket: JsonSocket, code: number, reason: string): void {
    this.untrack(socket.ws);
    this.closed(socket);
    try {
      socket.ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  // The socket host's hooks.

  protected sockets(): Iterable<JsonSocket> {
    return this.#byId.values();
  }

  protected expiresAt(socket: JsonSocket): number {
    return accessEndsAt(socket.principal);
  }

  protected expire(socket: JsonSocket): void {
    this.#protocol.expire(socket);
  }

  protected frame(socket: JsonSocket, _ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    return receive(this.#protocol, socket, frame, Date.now());
  }

  protected closed(socket: JsonSocket): void {
    if (this.#byId.get(socket.id) !== socket) return;
    this.#byId.delete(socket.id);
    const open = (this.#perUser.get(socket.principal.sub) ?? 1) - 1;
    if (open > 0) this.#perUser.set(socket.principal.sub, open);
    else this.#perUser.delete(socket.principal.sub);
    // Sessions that end without end_editing: the document must update the other editors.
    this.#protocol.endEditingSessions(socket);
    this.forget(socket);
  }

  // The hub's hooks.

  protected emit(socket: JsonSocket, subscription: LocalSubscription, event: TopicEvent): void {
    this.#protocol.emit(socket, subscription, event);
  }

  protected resync(socket: JsonSocket, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void {
    this.#protocol.resync(socket, subscription, seq, latest);
  }

  protected attachmentOf(socket: JsonSocket): { ws: WebSocket; data: JsonSocketData } {
    return { ws: socket.ws, data: { id: socket.id, principal: socket.principal } };
  }
}
