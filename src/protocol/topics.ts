/**
 * Topic names: one topic Durable Object per channel and key. Pure; shared by the Worker
 * (ingest routing), the hubs (subscriptions) and the topics themselves.
 */

export interface TopicKey {
  channel: string;
  /** The channel's key (simulation id, fund id, ...), or null for a channel without one. */
  key: string | null;
}

/** `simulation_updates:simulation_789`, `system_notifications`. */
export function topicName({ channel, key }: TopicKey): string {
  return key === null ? channel : `${channel}:${key}`;
}

/** The inverse of {@link topicName}: the channel never contains `:`, a key may. */
export function parseTopicName(name: string): TopicKey {
  const colon = name.indexOf(":");
  return colon < 0 ? { channel: name, key: null } : { channel: name.slice(0, colon), key: name.slice(colon + 1) };
}

/**
 * Channels whose latest event is state: sent right after a subscription is confirmed
 * (simulation progress or completion, GP economics, traffic lights, a commodity's last tick).
 */
const STATEFUL_CHANNELS = new Set(["simulation_updates", "gp_entity_updates", "traffic_light_updates", "market"]);

export function isStatefulChannel(channel: string): boolean {
  return STATEFUL_CHANNELS.has(channel);
}

/** Who gets an event as the acknowledgement of their own request (an edit's sender). */
export interface EventAck {
  /** The socket's id (unique across hubs). */
  socket: string;
  /** The sender's message id, put on that socket's copy only. */
  id: string | number;
}

/**
 * One stored event of a topic, as topics hand it to hubs: the system's neutral event, in no
 * protocol's shape. Each protocol puts it on its own wire at its edge, once per hub and event
 * (`protocol/equihome/codec.ts` `encodeTopicEvent`, `protocol/socketio/parser.ts`
 * `encodeTopicEventOpen`).
 */
export interface TopicEvent {
  seq: number;
  event: string;
  /**
   * The event's data as JSON text, encoded once by the topic from data validated where it
   * entered the system. Every edge splices it into its frame as is: no edge parses it again.
   */
  data: string;
  /** The publisher's event id (ingest `id`): on the JSON wire, and the topic's dedupe key. */
  id?: string;
  ack?: EventAck;
}

/**
 * An event for some sockets directly, outside any topic and its seqs: a document's
 * `editors_updated` to the JSON editors of its hubs. Neutral like {@link TopicEvent}: the
 * receiving hub puts it on its wire at its edge.
 */
export interface DirectEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * One topic → hub delivery. `after` is the seq the topic believes the hub has delivered: the
 * events follow it without a gap. A resync says the events between `after` and `seq` are no
 * longer held: the hub tells its sockets to resync and carries on from `seq`, with `latest`
 * (the channel's latest state, null for a channel without state or a topic without events).
 */
export type Delivery =
  | { kind: "events"; after: number; events: TopicEvent[] }
  | { kind: "resync"; after: number; seq: number; latest: TopicEvent | null };

/**
 * A hub's answer to a delivery: delivered; no local subscriber is left (forget this hub); or
 * the hub has only up to `have`, so the topic resends from there (a gap it must not skip).
 */
export type DeliveryReply = { status: "ok" } | { status: "detach" } | { status: "gap"; have: number };

/** An event as a publisher (ingest, a document's outbox) hands it to a topic. */
export interface NewEvent {
  event: string;
  /** Validated by whoever publishes; the topic encodes it to JSON text once, as it stores it. */
  data: unknown;
  /** The publisher's event id: part of the JSON frame, and the dedupe key. */
  id?: string | undefined;
  /**
   * A dedupe key of the system's own, for an event without `id` that may be published again
   * (a document's outbox row: its document, row and place). Deduplicated as `id` is, in a
   * namespace of its own (no publisher id can match it); never stored with the event, never on
   * any wire. Ignored when the event has an `id`, which dedupes it already.
   */
  key?: string | undefined;
  /** The sender to acknowledge with its own message id (edits). Not part of the shared event. */
  ack?: EventAck | undefined;
}

/** What a topic answers for each published event. */
export interface PublishResult {
  seq: number;
  /** True when an event with this `id` (or `key`) was already accepted; `seq` is the original one. */
  duplicate: boolean;
}

export interface AttachResult {
  /** The topic's latest seq when the hub was attached. */
  seq: number;
  /** The replay after `since_seq`, or the latest state, to send right after `subscribed`. */
  events: TopicEvent[];
  /** Whether `since_seq` could be honoured in full (null when none was asked). */
  recovered: boolean | null;
  /** The last seq this topic has delivered to the hub (the hub's position in the stream). */
  cursor: number;
}
