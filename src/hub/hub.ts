/**
 * What both hub Durable Objects share, whatever their protocol: the subscription index and the
 * hub's registrations at the topics (subscriptions.ts), lease renewals from the alarm, the
 * delivery entry point, and each socket's subscriptions carried in its attachment (or spilled
 * to SQLite when they do not fit). The socket lifecycle is the socket host's; the wire is the
 * subclass's (json/, socketio/).
 */
import * as v from "valibot";
import type { Env } from "../env";
import { HUB_RENEW_MS } from "../protocol/limits";
import type { Delivery, DeliveryReply, TopicEvent } from "../protocol/topics";
import { AttachmentKind } from "../socket-host/attachment";
import type { InboundSocket } from "../socket-host/inbound";
import { SocketHost } from "../socket-host/socket-host";
import { HubStore } from "./hub-store";
import { type LocalSubscription, type SubscriberSocket, SubscriptionIndex } from "./subscriptions";

/** One subscription: topic, traffic-light zones (or null), held explicitly, held for editing. */
const SubSchema = v.tuple([v.string(), v.nullable(v.array(v.string())), v.boolean(), v.boolean()]);
type AttachedSubscription = v.InferOutput<typeof SubSchema>;

/** A hub socket's attachment: its protocol's part, and its subscriptions or "stored" (in SQLite). */
export interface HubAttachment<T> {
  s: T;
  subs: AttachedSubscription[] | "stored";
}

export function hubAttachment<T>(ns: string, version: number, socket: v.GenericSchema<unknown, T>) {
  const schema = v.object({ s: socket, subs: v.union([v.literal("stored"), v.array(SubSchema)]) });
  return new AttachmentKind<HubAttachment<T>>(ns, version, schema);
}

/** Serialized attachments up to this size (as JSON) carry their subscriptions inline (cap 2,048). */
export const MAX_INLINE_ATTACHMENT_CHARS = 1800;

export abstract class Hub<S extends SubscriberSocket & InboundSocket, T> extends SocketHost<Env, S> {
  protected readonly store: HubStore;
  readonly index: SubscriptionIndex<S>;
  #name: string | null;
  /** When this hub next renews its registrations at the topics it holds. */
  #renewAt: number;
  #restoring = false;
  /** Sockets whose subscriptions are in SQLite (too many for their attachment). */
  #spilled = new Set<string>();

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly attachment: AttachmentKind<HubAttachment<T>>,
  ) {
    super(ctx, env);
    this.store = new HubStore(ctx.storage.sql);
    this.#name = this.store.name();
    // Kept in storage: a hub woken often by deliveries must still renew on time.
    this.#renewAt = (this.store.lastRenewAt() ?? Date.now()) + HUB_RENEW_MS;
    this.index = new SubscriptionIndex<S>({
      attach: (topic, sinceSeq) => this.env.TOPIC.getByName(topic).attach(topic, this.hubName(), sinceSeq),
      detach: (topic) => this.env.TOPIC.getByName(topic).detach(topic, this.hubName()),
      renew: (topic, lastSeq) => this.env.TOPIC.getByName(topic).renew(topic, this.hubName(), lastSeq),
      emit: (socket, subscription, event) => {
        if (!this.expireIfDue(socket, Date.now())) this.emit(socket, subscription, event);
      },
      resync: (socket, subscription, seq, latest) => {
        if (!this.expireIfDue(socket, Date.now())) this.resync(socket, subscription, seq, latest);
      },
      holding: () => this.#holding(),
      persist: (socket) => this.persist(socket),
    });
  }

  /** Sends one topic event to one socket, in its protocol. */
  protected abstract emit(socket: S, subscription: LocalSubscription, event: TopicEvent): void;
  /** Tells one socket its stream resumes after `seq` (its protocol's resync), then `latest`. */
  protected abstract resync(socket: S, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void;
  /** The socket's WebSocket and its protocol's part of the attachment; null without a WebSocket. */
  protected abstract attachmentOf(socket: S): { ws: WebSocket; data: T } | null;

  /** Rebuilds sockets and their subscriptions after a wake from hibernation or an eviction. */
  protected restoreHub(revive: (ws: WebSocket, data: T) => S): void {
    this.#restoring = true;
    const subs = new Map<S, HubAttachment<T>["subs"]>();
    this.restoreSockets(this.attachment, (ws, attachment) => {
      const socket = revive(ws, attachment.s);
      subs.set(socket, attachment.subs);
      return socket;
    });
    this.store.retainSockets(new Set([...subs.keys()].map((socket) => socket.id)));
    let stored: ReturnType<HubStore["subscriptions"]> | null = null;
    for (const [socket, inline] of subs) {
      if (Array.isArray(inline)) {
        for (const [topic, zones, explicit, editing] of inline) {
          this.index.restore(socket, { socketId: socket.id, topic, zones, explicit, editing });
        }
        continue;
      }
      stored ??= this.store.subscriptions();
      this.#spilled.add(socket.id);
      for (const row of stored) if (row.socketId === socket.id) this.index.restore(socket, row);
    }
    this.#restoring = false;
    this.restored();
  }

  protected hubName(): string {
    // Set by the first request, before any subscription can exist.
    if (this.#name === null) throw new Error("hub used before its first connection");
    return this.#name;
  }

  protected rememberName(name: string): void {
    if (this.#name === name) return;
    this.#name = name;
    this.store.setName(name);
  }

  /** Called by topic Durable Objects, in seq order per topic. */
  async deliver(topic: string, delivery: Delivery): Promise<DeliveryReply> {
    return this.index.deliver(topic, delivery);
  }

  /**
   * Test and operations aid (`GET /v1/admin/stats`). `held`: the topics this hub holds, each with
   * its number of subscribed sockets or sessions, at most `maxHeld` of them (the most subscribed
   * first). Computed only when asked: nothing is counted per event or per connection.
   */
  async describe(maxHeld = 0): Promise<{
    name: string | null;
    sockets: number;
    sessions: number;
    topics: number;
    held: Record<string, number>;
  }> {
    const counts = new Map<string, number>();
    if (maxHeld > 0) {
      for (const socket of this.sockets()) {
        for (const topic of socket.subscriptions.keys()) counts.set(topic, (counts.get(topic) ?? 0) + 1);
      }
    }
    return {
      name: this.#name,
      sockets: this.webSocketCount,
      sessions: this.sessionCount(),
      topics: this.index.topicCount,
      held: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).slice(0, maxHeld)),
    };
  }

  /** Engine.IO sessions, polling or WebSocket (none on a JSON hub). */
  protected sessionCount(): number {
    return 0;
  }

  /** A closed socket's subscriptions end, and what the hub stored for it goes. */
  protected forget(socket: S): void {
    this.index.removeSocket(socket);
    this.#forgetStored(socket.id);
  }

  /** Lease renewals. A renewal time more than a period ahead is not trusted (the clock went back). */
  protected async tick(now: number): Promise<void> {
    const renewDue = now >= this.#renewAt || this.#renewAt - now > HUB_RENEW_MS;
    if (renewDue && this.index.topicCount > 0) {
      this.#renewAt = now + HUB_RENEW_MS;
      this.store.setLastRenewAt(now);
      await this.index.renewAll();
    }
  }

  protected dueAt(): number {
    return this.index.topicCount > 0 ? this.#renewAt : Number.POSITIVE_INFINITY;
  }

  /**
   * Writes a socket's attachment with its subscriptions inline when they fit (no storage write:
   * a subscribe costs no commit), else with them in SQLite.
   */
  protected persist(socket: S): void {
    const target = this.attachmentOf(socket);
    if (!target) return;
    const subs: AttachedSubscription[] = [];
    for (const { topic, zones, reasons } of socket.subscriptions.values()) {
      subs.push([topic, zones, reasons.explicit, reasons.editing]);
    }
    const inline = { s: target.data, subs };
    if (JSON.stringify(this.attachment.envelope(inline)).length <= MAX_INLINE_ATTACHMENT_CHARS) {
      this.attachment.write(target.ws, inline);
      this.#forgetStored(socket.id);
      return;
    }
    this.store.replaceSubscriptions(
      socket.id,
      subs.map(([topic, zones, explicit, editing]) => ({ topic, zones, explicit, editing })),
    );
    this.#spilled.add(socket.id);
    this.attachment.write(target.ws, { s: target.data, subs: "stored" });
  }

  #forgetStored(socketId: string): void {
    if (this.#spilled.delete(socketId)) this.store.deleteSocket(socketId);
  }

  /**
   * The hub holds its first topic: renewals start a period from the last one (or from now). The
   * wake path restores subscriptions while the stored alarm already covers them: no write then.
   */
  #holding(): void {
    if (this.store.lastRenewAt() === null) {
      this.store.setLastRenewAt(Date.now());
      this.#renewAt = Date.now() + HUB_RENEW_MS;
    }
    if (!this.#restoring) this.planner.by(this.#renewAt);
  }
}
