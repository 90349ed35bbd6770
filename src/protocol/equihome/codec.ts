/**
 * The Equihome JSON protocol's frames: decoding what clients send, encoding what they receive.
 * Pure: no runtime imports. Every failure is a ProtocolError in the seed's vocabulary.
 */
import * as v from "valibot";
import { type IssueCode, issueDetails, ProtocolError } from "../errors";
import { exceedsBytes, MAX_FRAME_BYTES, MAX_MESSAGE_ID_LENGTH, MAX_ZONES } from "../limits";
import { describeIssues, IdSchema } from "../schemas";
import type { TopicEvent, TopicKey } from "../topics";
import { CHANNELS, type ChannelName, isChannelName } from "./channels";
import type { ChannelEchoData, DeliveredResourceUpdatedData, ReplyData, ReplyEvent } from "./replies";

export type MessageId = string | number;

export interface ClientMessage {
  event: string;
  data: Record<string, unknown>;
  id: MessageId | undefined;
}

/** A decode failure, with the request's `id` when one could be read so the reply carries it. */
export interface DecodeFailure {
  error: ProtocolError;
  id: MessageId | undefined;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const MessageIdSchema = v.union([
  v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_MESSAGE_ID_LENGTH)),
  v.pipe(v.number(), v.safeInteger()),
]);

const EnvelopeSchema = v.object({
  event: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  data: v.optional(v.custom<Record<string, unknown>>(isPlainObject, "data must be an object")),
  id: v.optional(MessageIdSchema),
});

/** Moved to limits.ts; re-exported for the hub's Engine.IO sessions, which import it here. */
export { exceedsBytes } from "../limits";

/** Decodes one client frame, or says why it is refused. Binary frames are refused. */
export function decodeClientFrame(frame: string | ArrayBuffer): ClientMessage | DecodeFailure {
  if (typeof frame !== "string") {
    return fail("invalid_message", "Binary frames are not supported; send JSON text", undefined);
  }
  if (exceedsBytes(frame, MAX_FRAME_BYTES)) {
    return fail(
      "invalid_message",
      `Frame is over ${MAX_FRAME_BYTES} bytes`,
      undefined,
      issueDetails("frame_too_large", { limit: MAX_FRAME_BYTES }),
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame);
  } catch {
    return fail("invalid_message", "Message is not valid JSON", undefined);
  }
  const maybeId = isPlainObject(parsed) ? v.safeParse(MessageIdSchema, parsed.id) : undefined;
  const id = maybeId?.success ? maybeId.output : undefined;
  const envelope = v.safeParse(EnvelopeSchema, parsed);
  if (!envelope.success) {
    return fail("invalid_message", "Message format is invalid", id, { issues: describeIssues(envelope.issues) });
  }
  return { event: envelope.output.event, data: envelope.output.data ?? {}, id: envelope.output.id };
}

export function isDecodeFailure(result: ClientMessage | DecodeFailure): result is DecodeFailure {
  return "error" in result;
}

function fail(
  code: "invalid_message",
  message: string,
  id: MessageId | undefined,
  details?: Record<string, unknown>,
): DecodeFailure {
  return { error: new ProtocolError(code, message, details ? { details } : {}), id };
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

const ZoneSchema = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_]{0,31}$/, "zone must be a lowercase name"));
/** `zones` of a traffic-light subscription (also in `subscribed`, replies.ts). */
export const ZonesSchema = v.pipe(v.array(ZoneSchema), v.minLength(1), v.maxLength(MAX_ZONES));
const SinceSeqSchema = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

export interface Subscription extends TopicKey {
  channel: ChannelName;
  /** traffic_light_updates only: the zones to receive, or null for all. */
  zones: string[] | null;
  /** subscribe only: replay everything after this seq. */
  sinceSeq: number | null;
}

/** Parses `subscribe` / `unsubscribe` data. Throws `invalid_subscription` with the seed's details. */
export function parseSubscription(data: Record<string, unknown>, withOptions: boolean): Subscription {
  const channel = data.channel;
  if (typeof channel !== "string") {
    throw subscriptionError(undefined, "missing_field", { field: "channel", hint: "Missing channel" });
  }
  if (!isChannelName(channel)) {
    throw subscriptionError(channel, "unknown_channel", { hint: "Unknown channel", channels: Object.keys(CHANNELS) });
  }
  const spec = CHANNELS[channel];
  let key: string | null = null;
  if (spec.keyField !== null) {
    const field = spec.keyField;
    const raw = data[field];
    if (raw === undefined || raw === null) {
      throw subscriptionError(channel, "missing_field", { field, hint: `Missing ${field}` });
    }
    const parsed = v.safeParse(IdSchema, raw);
    if (!parsed.success) throw invalidField(channel, field, parsed.issues);
    key = parsed.output;
  }
  let zones: string[] | null = null;
  let sinceSeq: number | null = null;
  if (withOptions) {
    if (data.zones !== undefined) {
      if (channel !== "traffic_light_updates") {
        throw subscriptionError(channel, "invalid_field", {
          field: "zones",
          hint: "zones applies to traffic_light_updates only",
        });
      }
      const parsed = v.safeParse(ZonesSchema, data.zones);
      if (!parsed.success) throw invalidField(channel, "zones", parsed.issues);
      zones = [...new Set(parsed.output)].sort();
    }
    if (data.since_seq !== undefined) {
      const parsed = v.safeParse(SinceSeqSchema, data.since_seq);
      if (!parsed.success) {
        throw subscriptionError(channel, "invalid_field", {
          field: "since_seq",
          hint: "since_seq must be a non-negative integer",
        });
      }
      sinceSeq = parsed.output;
    }
  }
  return { channel, key, zones, sinceSeq };
}

function subscriptionError(channel: string | undefined, issue: IssueCode, extra: Record<string, unknown> = {}) {
  return new ProtocolError("invalid_subscription", "Invalid subscription parameters", {
    details: { ...(channel === undefined ? {} : { channel }), ...issueDetails(issue, extra) },
  });
}

/** A field that failed its schema: `invalid_field`, with the schema's first message in the hint. */
function invalidField(channel: string, field: string, issues: readonly v.BaseIssue<unknown>[]) {
  return subscriptionError(channel, "invalid_field", {
    field,
    hint: `Invalid ${field}: ${issues[0]?.message ?? "invalid"}`,
  });
}

/** The seed's `subscribed` / `unsubscribed` data: the channel and its key field. */
export function subscriptionEcho(subscription: TopicKey & { channel: ChannelName }): ChannelEchoData {
  const { keyField } = CHANNELS[subscription.channel];
  // The key field is the channel's own (CHANNELS), which is what ChannelEcho says of each
  // channel; the key is a string for every channel with a key field (codec.test.ts checks both).
  return (
    keyField === null
      ? { channel: subscription.channel }
      : { channel: subscription.channel, [keyField]: subscription.key }
  ) as ChannelEchoData;
}

// ---------------------------------------------------------------------------------------------
// Server frames

export interface ServerEvent {
  event: string;
  data: unknown;
  id?: MessageId | undefined;
  seq?: number | undefined;
}

export function encodeServerEvent({ event, data, id, seq }: ServerEvent): string {
  const frame: ServerEvent = { event, data };
  if (id !== undefined) frame.id = id;
  if (seq !== undefined) frame.seq = seq;
  return JSON.stringify(frame);
}

/**
 * A topic event as a JSON-protocol frame, `{"event","data","id"?,"seq"}`, by concatenation: its
 * data is JSON text already, so nothing is parsed or encoded again. Byte for byte what
 * {@link encodeServerEvent} gives for the same event. `id` is the publisher's event id, or the
 * message id of the socket whose edit this event acknowledges (on that socket's copy only).
 */
export function encodeTopicEvent(event: TopicEvent, id: MessageId | undefined = event.id): string {
  const idPart = id === undefined ? "" : `,"id":${JSON.stringify(id)}`;
  return `{"event":${JSON.stringify(event.event)},"data":${event.data}${idPart},"seq":${event.seq}}`;
}

/**
 * A frame the hub composes itself (a reply, or an unsolicited `subscribed`, `unsubscribed`,
 * `editing_ended`, `editors_updated`), its data checked at compile time against the event's
 * schema in replies.ts. The same bytes as {@link encodeServerEvent}.
 */
export function encodeReply<E extends ReplyEvent>(event: E, data: ReplyData<E>, id?: MessageId): string {
  return encodeServerEvent({ event, data, id });
}

/**
 * A `resource_updated` the hub sends itself: the acknowledgement of an `update_resource` repeated
 * after its event was delivered, with the request's id and the event's original seq.
 */
export function encodeEditAck(data: DeliveredResourceUpdatedData, id: MessageId | undefined, seq: number): string {
  return encodeServerEvent({ event: "resource_updated", data, id, seq });
}

export function encodeError(error: ProtocolError, id?: MessageId): string {
  const data: ReplyData<"error"> = { code: error.code, message: error.message };
  if (error.details !== undefined) data.details = error.details;
  return encodeReply("error", data, id);
}
