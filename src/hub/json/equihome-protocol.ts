/**
 * The Equihome JSON protocol on a hub: one socket's client events in, server events out. The
 * hub Durable Object owns the sockets; this owns what they say.
 */
import * as v from "valibot";
import { accessEndsAt, canAccess, hasScope, type Principal } from "../../auth/principal";
import { type AuthConfig, verifyToken } from "../../auth/verify-token";
import type { DocumentDurableObject } from "../../document/document-durable-object";
import { CHANNELS } from "../../protocol/equihome/channels";
import {
  type ClientMessage,
  decodeClientFrame,
  encodeEditAck,
  encodeError,
  encodeReply,
  encodeTopicEvent,
  isDecodeFailure,
  parseSubscription,
  type Subscription,
  subscriptionEcho,
} from "../../protocol/equihome/codec";
import {
  checkValue,
  documentName,
  EDITABLE_RESOURCES,
  type EditableResourceType,
  isEditableResourceType,
  parsePath,
  parseResourceRef,
  type ResourceRef,
  resourceTopic,
} from "../../protocol/equihome/editing";
import type { ReplyData } from "../../protocol/equihome/replies";
import { CLOSE_CODES, ProtocolError } from "../../protocol/errors";
import {
  MAX_EDITING_SESSIONS_PER_SOCKET,
  MAX_FRAME_BYTES,
  MAX_JSON_SOCKETS_PER_USER,
  MAX_SUBSCRIPTIONS_PER_SOCKET,
} from "../../protocol/limits";
import { parseTopicName, type TopicEvent, topicName } from "../../protocol/topics";
import { type InboundSocket, type InboundWire, Malformed } from "../../socket-host/inbound";
import { safeJson } from "../../storage/sql";
import type { LocalSubscription, SubscriberSocket, SubscriptionIndex } from "../subscriptions";

export interface JsonSocket extends SubscriberSocket, InboundSocket {
  readonly ws: WebSocket;
  principal: Principal;
}

/** What the protocol needs from its hub. */
export interface JsonHub {
  index: SubscriptionIndex<JsonSocket>;
  authConfig(): AuthConfig;
  hubName(): string;
  document(name: string): DurableObjectStub<DocumentDurableObject>;
  /** Persists a changed principal and re-plans the expiry alarm. */
  principalChanged(socket: JsonSocket): void;
  close(socket: JsonSocket, code: number, reason: string): void;
  /** Whether the socket is still open on this hub. */
  isOpen(socket: JsonSocket): boolean;
}

export class EquihomeProtocol implements InboundWire<JsonSocket, string | ArrayBuffer, ClientMessage> {
  /** Zone-filtered frames of the event being delivered, by zone set: encoded once per set. */
  #zoneFrames = { seq: -1, topic: "", frames: new Map<string, string>() };
  /**
   * Each delivered event's frame, encoded once per hub and sent to every socket. By event, not
   * only the last one: a delivery of many events goes socket by socket, event by event.
   */
  #frames = new WeakMap<TopicEvent, string>();

  constructor(private readonly hub: JsonHub) {}

  // -------------------------------------------------------------------------------------------
  // The inbound wire (socket-host/inbound.ts): one text frame is one JSON message.

  readonly maxFrameBytes = MAX_FRAME_BYTES;

  expiresAt(socket: JsonSocket): number {
    return accessEndsAt(socket.principal);
  }

  decode(_socket: JsonSocket, frame: string | ArrayBuffer): ClientMessage | Malformed {
    const message = decodeClientFrame(frame);
    return isDecodeFailure(message) ? new Malformed(message.error) : message;
  }

  needsToken(): boolean {
    return true; // refresh_token too: a token must be refreshed before it runs out
  }

  run(socket: JsonSocket, message: ClientMessage): Promise<void> {
    return this.#dispatch(socket, message);
  }

  /** An `error` event, with the message's id when it has one. */
  refuse(socket: JsonSocket, error: ProtocolError, message: ClientMessage | null, frame: string | ArrayBuffer): void {
    send(socket, encodeError(error, message ? message.id : decodeClientFrame(frame).id));
  }

  close(socket: JsonSocket, code: number, reason: string): void {
    this.hub.close(socket, code, reason);
  }

  /** The token ran out: one `authentication_error`, then close 4401. */
  expire(socket: JsonSocket): void {
    send(
      socket,
      encodeError(new ProtocolError("authentication_error", "Token expired", { details: { reason: "token_expired" } })),
    );
    this.hub.close(socket, CLOSE_CODES.authentication_failed, "token expired");
  }

  /** Sends one topic event to a socket, filtered to its traffic-light zones. */
  emit(socket: JsonSocket, subscription: LocalSubscription, event: TopicEvent): void {
    if (event.ack?.socket === socket.id) {
      // The sender's own edit: its copy is the acknowledgement and carries its message id.
      send(socket, encodeTopicEvent(event, event.ack.id));
      return;
    }
    let whole = this.#frames.get(event);
    if (whole === undefined) {
      whole = encodeTopicEvent(event);
      this.#frames.set(event, whole);
    }
    if (subscription.zones === null) {
      send(socket, whole);
      return;
    }
    const cache = this.#zoneFrames;
    if (cache.seq !== event.seq || cache.topic !== subscription.topic) {
      cache.seq = event.seq;
      cache.topic = subscription.topic;
      cache.frames.clear();
    }
    const key = subscription.zones.join(",");
    let frame = cache.frames.get(key);
    if (frame === undefined) {
      frame = filterZones(whole, subscription.zones);
      cache.frames.set(key, frame);
    }
    send(socket, frame);
  }

  /**
   * The subscription's stream skipped events this socket will never get: an unsolicited
   * `subscribed` (no id) with `recovered: false` and the seq it resumes after, then the latest
   * state, exactly as for a `since_seq` that could not be honoured.
   */
  resync(socket: JsonSocket, subscription: LocalSubscription, seq: number, latest: TopicEvent | null): void {
    const { channel, key } = parseTopicName(subscription.topic);
    if (channel in CHANNELS) {
      const data: ReplyData<"subscribed"> = {
        ...subscriptionEcho({ channel: channel as keyof typeof CHANNELS, key }),
        seq,
        recovered: false,
        ...(subscription.zones === null ? {} : { zones: subscription.zones }),
      };
      send(socket, encodeReply("subscribed", data));
    }
    if (latest) this.emit(socket, subscription, latest);
  }

  async #dispatch(socket: JsonSocket, message: ClientMessage): Promise<void> {
    switch (message.event) {
      case "subscribe":
        return this.#subscribe(socket, message);
      case "unsubscribe":
        return this.#unsubscribe(socket, message);
      case "ping":
        send(socket, encodeReply("pong", { timestamp: Date.now() }, message.id));
        return;
      case "refresh_token":
        return this.#refreshToken(socket, message);
      case "start_editing":
        return this.#startEditing(socket, message);
      case "update_resource":
        return this.#updateResource(socket, message);
      case "end_editing":
        return this.#endEditing(socket, message);
      default:
        throw new ProtocolError("invalid_event", `Event type "${message.event}" is unknown`, {
          details: { event: message.event, events: CLIENT_EVENTS },
        });
    }
  }

  async #subscribe(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const subscription = parseSubscription(message.data, true);
    authorize(socket.principal, subscription);
    const topic = topicName(subscription);
    if (!socket.subscriptions.has(topic) && socket.subscriptions.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) {
      throw new ProtocolError("invalid_subscription", "Too many subscriptions on this connection", {
        details: { channel: subscription.channel, issue: "subscription_limit", limit: MAX_SUBSCRIPTIONS_PER_SOCKET },
      });
    }
    const subscribed = await this.hub.index.subscribe(socket, topic, subscription.zones, subscription.sinceSeq);
    if (!subscribed) return; // unsubscribed or closed while the topic answered
    const { result, subscription: local } = subscribed;
    const data: ReplyData<"subscribed"> = {
      ...subscriptionEcho(subscription),
      seq: result.seq,
      ...(subscription.zones === null ? {} : { zones: subscription.zones }),
      ...(result.recovered === null ? {} : { recovered: result.recovered }),
    };
    send(socket, encodeReply("subscribed", data, message.id));
    for (const event of result.events) this.emit(socket, local, event);
    this.hub.index.goLive(socket, local, result.seq);
  }

  async #unsubscribe(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const subscription = parseSubscription(message.data, false);
    // Idempotent: unsubscribing from what one never subscribed to is confirmed all the same.
    // An editing session of the same resource keeps receiving its updates until end_editing.
    this.hub.index.release(socket, topicName(subscription), "explicit");
    send(socket, encodeReply("unsubscribed", subscriptionEcho(subscription), message.id));
  }

  async #startEditing(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const ref = parseResourceRef(message.data);
    authorizeResource(socket.principal, ref, false);
    const topic = resourceTopic(ref);
    const sessions = [...socket.subscriptions.values()].filter((sub) => sub.reasons.editing).length;
    if (!socket.subscriptions.get(topic)?.reasons.editing && sessions >= MAX_EDITING_SESSIONS_PER_SOCKET) {
      throw new ProtocolError("invalid_message", "Too many editing sessions on this connection", {
        details: { issue: "editing_session_limit", limit: MAX_EDITING_SESSIONS_PER_SOCKET },
      });
    }
    // Subscribe first, then read the document: an edit in between is in the document and also
    // delivered (sets are idempotent), never missing from both.
    const held = await this.hub.index.hold(socket, topic, "editing");
    let joined: Awaited<ReturnType<DocumentDurableObject["join"]>>;
    try {
      joined = await this.hub.document(documentName(ref)).join(ref, {
        socket: socket.id,
        hub: this.hub.hubName(),
        sub: socket.principal.sub,
        email: socket.principal.email,
      });
    } catch (error) {
      this.hub.index.release(socket, topic, "editing");
      throw error;
    }
    if (!this.hub.isOpen(socket)) {
      // Closed while the document registered it: its close already told the document it left,
      // possibly before the join arrived there. Leave again, or it stays an editor for ever.
      await this.hub
        .document(documentName(ref))
        .leave(ref, socket.id)
        .catch((error) => console.warn("leave after a close during start_editing failed", error));
      return;
    }
    send(
      socket,
      encodeReply("editing_started", { ...ref, document: joined.document, editors: joined.editors }, message.id),
    );
    if (held) this.hub.index.goLive(socket, held.subscription, held.result.seq);
  }

  async #updateResource(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const ref = parseResourceRef(message.data);
    authorizeResource(socket.principal, ref, true);
    if (!socket.subscriptions.get(resourceTopic(ref))?.reasons.editing) {
      throw new ProtocolError("invalid_message", "Call start_editing for this resource first", {
        details: { issue: "editing_not_started", resource: `${ref.resource_type}:${ref.resource_id}` },
      });
    }
    parsePath(message.data.path);
    checkValue(message.data.value);
    // The socket and message id are the edit's dedupe key: the same request twice is applied once.
    const path = message.data.path as string;
    const id = message.id;
    const { result, retried } = await this.#applyEdit(ref, {
      path,
      value: message.data.value,
      updatedBy: socket.principal.email,
      ...(id === undefined ? {} : { ack: { socket: socket.id, id }, dedupeId: `${socket.id}:${JSON.stringify(id)}` }),
    });
    if (!result.ok) {
      const { code, message: text, details } = result.error;
      throw new ProtocolError(code, text, details ? { details } : {});
    }
    // Success is acknowledged by the resource_updated that reaches this socket with the id; a
    // client's repeat, already delivered, is acknowledged again the same way (not yet published:
    // its first acknowledgement is still to come). The hub's own retry is not a repeat: the
    // first attempt's event carries the acknowledgement.
    if (result.duplicate && result.seq !== null && !retried) {
      const data = { ...ref, path, value: message.data.value, updated_by: socket.principal.email };
      send(socket, encodeEditAck(data, id, result.seq));
    }
  }

  /**
   * An edit with a dedupe id is safe to send again, so a call that failed in transit (the
   * document restarted, the reply was lost) is retried on a fresh stub: the document applies it
   * at most once and answers a repeat as a duplicate. When every attempt fails the outcome is
   * unknown, and the editor is told so (`edit_unconfirmed`), never that the edit failed. An edit
   * without an id is sent once: repeating it could apply it twice.
   */
  async #applyEdit(ref: ResourceRef, edit: Parameters<DocumentDurableObject["applyEdit"]>[1]) {
    const name = documentName(ref);
    if (edit.dedupeId === undefined)
      return { result: await this.hub.document(name).applyEdit(ref, edit), retried: false };
    for (let attempt = 0; ; attempt++) {
      try {
        return { result: await this.hub.document(name).applyEdit(ref, edit), retried: attempt > 0 };
      } catch (error) {
        if (attempt >= EDIT_RETRY_DELAYS_MS.length) {
          console.warn(`update_resource on ${name}: unconfirmed after ${attempt + 1} attempts`, error);
          throw new ProtocolError("server_error", "The edit could not be confirmed; send it again with the same id", {
            details: { issue: "edit_unconfirmed" },
            cause: error,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, EDIT_RETRY_DELAYS_MS[attempt]));
      }
    }
  }

  async #endEditing(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const ref = parseResourceRef(message.data);
    const topic = resourceTopic(ref);
    if (socket.subscriptions.get(topic)?.reasons.editing) {
      this.hub.index.release(socket, topic, "editing");
      await this.hub.document(documentName(ref)).leave(ref, socket.id);
    }
    send(socket, encodeReply("editing_ended", { ...ref }, message.id));
  }

  /** A closing socket's editing sessions end; their documents tell the other editors. */
  endEditingSessions(socket: JsonSocket): void {
    for (const subscription of socket.subscriptions.values()) {
      const ref = subscription.reasons.editing ? resourceOfTopic(subscription.topic) : null;
      if (!ref) continue;
      void this.hub
        .document(documentName(ref))
        .leave(ref, socket.id)
        .catch((error) => console.warn("leave after close failed; the document drops the editor later", error));
    }
  }

  async #refreshToken(socket: JsonSocket, message: ClientMessage): Promise<void> {
    const token = message.data.token;
    if (typeof token !== "string") {
      throw new ProtocolError("invalid_message", "refresh_token needs data.token", {
        details: { issue: "missing_field", field: "token", hint: "Missing token" },
      });
    }
    const principal = await verifyToken(token, this.hub.authConfig());
    if (principal.sub !== socket.principal.sub) {
      throw new ProtocolError("authentication_error", "The new token is for another user", {
        details: { reason: "subject_mismatch" },
      });
    }
    // Everything that can fail comes before the token is adopted: a refusal leaves the old one.
    const expiresAt = new Date(principal.exp * 1000).toISOString();
    socket.principal = principal;
    this.hub.principalChanged(socket);
    send(socket, encodeReply("token_refreshed", { expires_at: expiresAt }, message.id));
    // A token with narrower `resources` ends the subscriptions it no longer reaches.
    for (const topic of [...socket.subscriptions.keys()]) {
      const key = parseTopicName(topic);
      const channel = key.channel as keyof typeof CHANNELS;
      if (!(channel in CHANNELS)) continue;
      const echo = subscriptionEcho({ channel, key: key.key });
      try {
        authorize(principal, { channel, key: key.key });
      } catch {
        const subscription = socket.subscriptions.get(topic);
        const ref = subscription?.reasons.editing ? resourceOfTopic(topic) : null;
        this.hub.index.unsubscribe(socket, topic);
        if (ref) {
          await this.hub
            .document(documentName(ref))
            .leave(ref, socket.id)
            .catch((error) => console.warn("leave after a narrowed token failed", error));
          send(socket, encodeReply("editing_ended", { ...ref, reason: "authorization_error" }));
        }
        if (subscription?.reasons.explicit) {
          send(socket, encodeReply("unsubscribed", { ...echo, reason: "authorization_error" }));
        }
      }
    }
  }
}

/**
 * The one frame of a socket refused for MAX_JSON_SOCKETS_PER_USER, before its close with 1008:
 * the upgrade is accepted so that a browser can read why.
 */
export function connectionLimitFrame(): string {
  return encodeError(
    new ProtocolError("authorization_error", `At most ${MAX_JSON_SOCKETS_PER_USER} open connections per user`, {
      details: { issue: "connection_limit", limit: MAX_JSON_SOCKETS_PER_USER },
    }),
  );
}

/** How long the hub waits before each retry of an edit whose call failed (then it gives up). */
const EDIT_RETRY_DELAYS_MS = [100, 400, 1600];

const CLIENT_EVENTS = [
  "subscribe",
  "unsubscribe",
  "ping",
  "refresh_token",
  "start_editing",
  "update_resource",
  "end_editing",
];

/** The resource an editing subscription's topic belongs to. */
function resourceOfTopic(topic: string): ResourceRef | null {
  const { channel, key } = parseTopicName(topic);
  const type = Object.keys(EDITABLE_RESOURCES).find(
    (candidate) => EDITABLE_RESOURCES[candidate as EditableResourceType].channel === channel,
  );
  if (type === undefined || key === null || !isEditableResourceType(type)) return null;
  return { resource_type: type, resource_id: key };
}

function authorizeResource(principal: Principal, ref: ResourceRef, needEdit: boolean): void {
  if (needEdit && !hasScope(principal, "edit")) {
    throw new ProtocolError("authorization_error", "Editing needs the edit scope", { details: { scope: "edit" } });
  }
  if (!canAccess(principal, ref.resource_type, ref.resource_id)) {
    throw new ProtocolError("authorization_error", "Insufficient permissions", {
      details: { resource: `${ref.resource_type}:${ref.resource_id}` },
    });
  }
}

function authorize(principal: Principal, subscription: Pick<Subscription, "channel" | "key">): void {
  const { resourceType } = CHANNELS[subscription.channel];
  if (resourceType === null || subscription.key === null) return;
  if (!canAccess(principal, resourceType, subscription.key)) {
    throw new ProtocolError("authorization_error", "Insufficient permissions", {
      details: { channel: subscription.channel, resource: `${resourceType}:${subscription.key}` },
    });
  }
}

function send(socket: JsonSocket, text: string): void {
  try {
    socket.ws.send(text);
  } catch {
    // The socket closed under us; its close handler cleans up.
  }
}

/**
 * A traffic_light_update with only the given zones in `zone_updates`. Sent even when none of
 * them changed, so the subscriber's `seq` stays contiguous.
 */
export function filterZones(frame: string, zones: string[]): string {
  // Checked with `v.is`, then changed in place: the frame keeps its own key order.
  const parsed = safeJson(frame);
  if (!v.is(TrafficLightFrame, parsed)) return frame;
  const updates = Object.entries(parsed.data.zone_updates).filter(([zone]) => zones.includes(zone));
  parsed.data.zone_updates = Object.fromEntries(updates);
  return JSON.stringify(parsed);
}

/** The frames `filterZones` rewrites (loose: every other field is kept as it is). */
const TrafficLightFrame = v.looseObject({
  event: v.literal("traffic_light_update"),
  data: v.looseObject({ zone_updates: v.record(v.string(), v.unknown()) }),
});
