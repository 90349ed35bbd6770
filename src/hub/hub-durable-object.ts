/**
 * The Hub Durable Object: holds many client sockets with the WebSocket Hibernation API, speaks
 * their protocol, and keeps one registration per topic at the topic Durable Objects. Lifecycle
 * and dispatch only; the protocol (equihome-protocol.ts) and the subscription index
 * (subscriptions.ts) do the work.
 *
 * Hibernation: nothing here keeps an idle hub awake. Each socket's principal is in its
 * attachment, its subscriptions in SQLite; the constructor rebuilds the index from both when
 * the hub wakes. The only timer is the durable alarm for the earliest token expiry.
 */
import { DurableObject } from "cloudflare:workers";
import * as v from "valibot";
import { accessEndsAt, type Principal } from "../auth/principal";
import { authConfigFromEnv } from "../auth/verify-token";
import type { Env } from "../env";
import { HUB_NAME_HEADER, PRINCIPAL_HEADER } from "../internal-headers";
import { CLOSE_CODES } from "../protocol/errors";
import { MESSAGE_BURST, MESSAGES_PER_SECOND } from "../protocol/limits";
import type { TopicEvent } from "../protocol/topics";
import { safeJson } from "../storage/sql";
import { ATTACHMENT_VERSION, PrincipalSchema, readAttachment, writeAttachment } from "./attachment";
import { EquihomeProtocol, type JsonSocket } from "./equihome-protocol";
import { HubStore } from "./hub-store";
import { TokenBucket } from "./rate-limiter";
import { SubscriptionIndex } from "./subscriptions";

export class HubDurableObject extends DurableObject<Env> {
  #store: HubStore;
  #name: string | null;
  #sockets = new Map<WebSocket, JsonSocket>();
  #byId = new Map<string, JsonSocket>();
  readonly index: SubscriptionIndex<JsonSocket>;
  #json: EquihomeProtocol;
  /** When the expiry alarm is set for, as far as this instance knows. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new HubStore(ctx.storage.sql);
    this.#name = this.#store.name();
    this.index = new SubscriptionIndex<JsonSocket>(this.#store, {
      attach: (topic, sinceSeq) => this.env.TOPIC.getByName(topic).attach(topic, this.#hubName(), sinceSeq),
      detach: (topic) => this.env.TOPIC.getByName(topic).detach(topic, this.#hubName()),
      emit: (socket, subscription, event) => this.#json.emit(socket, subscription, event),
    });
    this.#json = new EquihomeProtocol({
      index: this.index,
      authConfig: () => authConfigFromEnv(this.env),
      hubName: () => this.#hubName(),
      document: (name) => this.env.DOCUMENT.getByName(name),
      principalChanged: (socket) => {
        this.#writeAttachment(socket);
        this.#planExpiryAlarm();
      },
      close: (socket, code, reason) => this.#close(socket, code, reason),
    });
    this.#restore();
  }

  /** Rebuilds sockets and subscriptions after a wake from hibernation or an eviction. */
  #restore(): void {
    const now = Date.now();
    const byId = new Map<string, JsonSocket>();
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = readAttachment(ws);
      if (!attachment) {
        // Written by an incompatible version: the client must reconnect to get a clean state.
        ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
        continue;
      }
      const socket = this.#track(ws, attachment.id, attachment.principal, now);
      byId.set(socket.id, socket);
    }
    this.#store.retainSockets(new Set(byId.keys()));
    for (const row of this.#store.subscriptions()) {
      const socket = byId.get(row.socketId);
      if (socket) this.index.restore(socket, row);
    }
  }

  #track(ws: WebSocket, id: string, principal: Principal, now: number): JsonSocket {
    const socket: JsonSocket = {
      id,
      ws,
      principal,
      subscriptions: new Map(),
      bucket: new TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST, now),
      rateRefusals: 0,
      inbox: Promise.resolve(),
    };
    this.#sockets.set(ws, socket);
    this.#byId.set(id, socket);
    return socket;
  }

  #hubName(): string {
    // Set by the first upgrade, before any subscription can exist.
    if (this.#name === null) throw new Error("hub used before its first connection");
    return this.#name;
  }

  /** Accepts an upgrade the Worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(HUB_NAME_HEADER);
    const principal = v.safeParse(PrincipalSchema, safeJson(request.headers.get(PRINCIPAL_HEADER)));
    if (!name || !principal.success || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("hubs accept only upgrades forwarded by the Worker", { status: 400 });
    }
    if (this.#name !== name) {
      this.#name = name;
      this.#store.setName(name);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const socket = this.#track(server, crypto.randomUUID(), principal.output, Date.now());
    this.#writeAttachment(socket);
    this.#planExpiryAlarm();
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Called by topic Durable Objects, in seq order per topic. */
  async deliver(topic: string, events: TopicEvent[]): Promise<{ detach: boolean }> {
    return this.index.deliver(topic, events);
  }

  /**
   * Sends one frame to some of this hub's sockets (editors_updated from a document). Returns
   * the ids it no longer has, so the sender can forget them.
   */
  async sendToSockets(socketIds: string[], frame: string): Promise<{ missing: string[] }> {
    const missing: string[] = [];
    for (const id of socketIds) {
      const socket = this.#byId.get(id);
      if (!socket) {
        missing.push(id);
        continue;
      }
      try {
        socket.ws.send(frame);
      } catch {
        missing.push(id);
      }
    }
    return { missing };
  }

  /** Test and operations aid. */
  async describe(): Promise<{ name: string | null; sockets: number; topics: number }> {
    return { name: this.#name, sockets: this.#sockets.size, topics: this.index.topicCount };
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const socket = this.#sockets.get(ws);
    if (!socket) {
      ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
      return;
    }
    await this.#json.onMessage(socket, message, Date.now());
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#forget(ws);
    // Complete the closing handshake (a no-op if we started it).
    try {
      ws.close(code === 1005 || code === 1006 ? CLOSE_CODES.normal : code, "closed");
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#forget(ws);
  }

  /** Ends the sessions whose token expired, then plans the next expiry. */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    for (const socket of [...this.#sockets.values()]) {
      if (accessEndsAt(socket.principal) <= now) this.#json.expire(socket);
    }
    this.#planExpiryAlarm();
  }

  #forget(ws: WebSocket): void {
    const socket = this.#sockets.get(ws);
    if (!socket) return;
    this.#sockets.delete(ws);
    this.#byId.delete(socket.id);
    // Sessions that end without end_editing: the document must update the other editors.
    this.#json.endEditingSessions(socket);
    this.index.removeSocket(socket);
  }

  #close(socket: JsonSocket, code: number, reason: string): void {
    this.#forget(socket.ws);
    try {
      socket.ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  #writeAttachment(socket: JsonSocket): void {
    writeAttachment(socket.ws, { v: ATTACHMENT_VERSION, id: socket.id, protocol: "json", principal: socket.principal });
  }

  /** One alarm for the earliest token expiry among the open sockets. */
  #planExpiryAlarm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const socket of this.#sockets.values()) earliest = Math.min(earliest, accessEndsAt(socket.principal));
    if (earliest === Number.POSITIVE_INFINITY) return;
    if (this.#alarmAt !== null && this.#alarmAt <= earliest) return;
    this.#alarmAt = earliest;
    void this.ctx.storage.setAlarm(earliest);
  }
}
