/**
 * Valibot schemas for the frames of the Equihome JSON protocol that the server composes itself
 * (docs/PROTOCOL.md "Server events"): the replies to requests, the unsolicited `subscribed`,
 * `unsubscribed`, `editing_ended` and `editors_updated`, the `error` event, and
 * `resource_updated` as clients receive it. Each schema describes a frame's `data`.
 *
 * They are the one definition of these shapes: the hub's encoders take their data as
 * `v.InferOutput` of them (codec.ts `encodeReply`), the client SDK takes its types from them
 * (type-only imports, so its bundle carries no valibot), and a test parses every reply the hub
 * sends over a real socket with them. The hub does not parse its own replies at run time.
 * Objects are strict: a field the hub adds must be added here first.
 */
import * as v from "valibot";
import { ERROR_CODES, type ErrorCode, ISSUE_CODES, type IssueCode } from "../errors";
import { IdSchema, PlainObject, Timestamp } from "../schemas";
import type { ChannelName } from "./channels";
import { ZonesSchema } from "./codec";
import { EDITABLE_RESOURCES, type EditableResourceType } from "./editing";
import { ResourceUpdated } from "./server-events";

const Seq = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** Why the server ended a subscription or an editing session itself (after `refresh_token`). */
const EndReason = v.literal("authorization_error");

// ---------------------------------------------------------------------------------------------
// Channels: each channel with its key field (channels.ts CHANNELS), as `subscribe` named them.

const ECHOES = {
  simulation_updates: { channel: v.literal("simulation_updates"), simulation_id: IdSchema },
  gp_entity_updates: { channel: v.literal("gp_entity_updates"), simulation_id: IdSchema },
  portfolio_updates: { channel: v.literal("portfolio_updates"), portfolio_id: IdSchema },
  fund_updates: { channel: v.literal("fund_updates"), fund_id: IdSchema },
  system_notifications: { channel: v.literal("system_notifications") },
  traffic_light_updates: { channel: v.literal("traffic_light_updates") },
} as const satisfies { [C in ChannelName]: { channel: v.LiteralSchema<C, undefined> } & v.ObjectEntries };

/** A channel and its key field: what `subscribed` and `unsubscribed` start with. */
export const ChannelEcho = v.variant("channel", [
  v.strictObject(ECHOES.simulation_updates),
  v.strictObject(ECHOES.gp_entity_updates),
  v.strictObject(ECHOES.portfolio_updates),
  v.strictObject(ECHOES.fund_updates),
  v.strictObject(ECHOES.system_notifications),
  v.strictObject(ECHOES.traffic_light_updates),
]);

/**
 * `seq`: the topic's seq the subscription starts after. `recovered`: only when the request had
 * `since_seq`, and `false` on an unsolicited resync. `zones` (sorted, traffic lights only): only
 * when the request had `zones`.
 */
const subscribedTail = { seq: Seq, recovered: v.optional(v.boolean()) };

export const Subscribed = v.variant("channel", [
  v.strictObject({ ...ECHOES.simulation_updates, ...subscribedTail }),
  v.strictObject({ ...ECHOES.gp_entity_updates, ...subscribedTail }),
  v.strictObject({ ...ECHOES.portfolio_updates, ...subscribedTail }),
  v.strictObject({ ...ECHOES.fund_updates, ...subscribedTail }),
  v.strictObject({ ...ECHOES.system_notifications, ...subscribedTail }),
  v.strictObject({ ...ECHOES.traffic_light_updates, ...subscribedTail, zones: v.optional(ZonesSchema) }),
]);

/** `reason` only when the server ended the subscription (unsolicited, no `id`). */
const unsubscribedTail = { reason: v.optional(EndReason) };

export const Unsubscribed = v.variant("channel", [
  v.strictObject({ ...ECHOES.simulation_updates, ...unsubscribedTail }),
  v.strictObject({ ...ECHOES.gp_entity_updates, ...unsubscribedTail }),
  v.strictObject({ ...ECHOES.portfolio_updates, ...unsubscribedTail }),
  v.strictObject({ ...ECHOES.fund_updates, ...unsubscribedTail }),
  v.strictObject({ ...ECHOES.system_notifications, ...unsubscribedTail }),
  v.strictObject({ ...ECHOES.traffic_light_updates, ...unsubscribedTail }),
]);

// ---------------------------------------------------------------------------------------------
// Connection

/** `timestamp`: the server's clock, ms since the epoch. */
export const Pong = v.strictObject({ timestamp: v.pipe(v.number(), v.safeInteger()) });

/** `expires_at`: when the new token's access ends (ISO 8601). */
export const TokenRefreshed = v.strictObject({ expires_at: Timestamp });

// ---------------------------------------------------------------------------------------------
// Editing

const resourceRef = {
  resource_type: v.picklist(Object.keys(EDITABLE_RESOURCES) as EditableResourceType[]),
  resource_id: IdSchema,
};

/** A user who has a document open: the token's `sub`, and its `email` (its `sub` without one). */
export const EditorSchema = v.strictObject({
  user_id: v.pipe(v.string(), v.minLength(1)),
  email: v.pipe(v.string(), v.minLength(1)),
});

/** `document`: the whole document as JSON. `editors`: everyone who has it open, by user id. */
export const EditingStarted = v.strictObject({
  ...resourceRef,
  document: PlainObject,
  editors: v.array(EditorSchema),
});

/** `reason` only when the server ended the session (unsolicited, no `id`). */
export const EditingEnded = v.strictObject({ ...resourceRef, reason: v.optional(EndReason) });

export const EditorsUpdated = v.strictObject({ ...resourceRef, editors: v.array(EditorSchema) });

/**
 * `resource_updated` as clients receive it: what ingest accepts ({@link ResourceUpdated}, left
 * as it is: a publisher cannot post `deleted`), plus `deleted: true` for a key a y-websocket
 * client removed (then `value` is null). Edits from y-websocket clients are not held to the
 * JSON path and value rules (docs/PROTOCOL.md "From Yjs to resource_updated"), so here `path`
 * is any string and `value` any JSON value.
 */
export const DeliveredResourceUpdated = v.strictObject({
  ...ResourceUpdated.entries,
  path: v.string(),
  value: v.unknown(),
  deleted: v.optional(v.literal(true)),
});

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * `details`: what the refusal concerns. `issue`, when there is one, is an {@link IssueCode};
 * the other members depend on the code (docs/PROTOCOL.md "Errors").
 */
export const ErrorDetails = v.looseObject({
  issue: v.optional(v.picklist(Object.keys(ISSUE_CODES) as IssueCode[])),
});

export const ErrorData = v.strictObject({
  code: v.picklist(Object.keys(ERROR_CODES) as ErrorCode[]),
  message: v.string(),
  details: v.optional(ErrorDetails),
});

// ---------------------------------------------------------------------------------------------

/** Each frame the hub composes itself, by event, with the schema of its `data`. */
export const REPLIES = {
  subscribed: Subscribed,
  unsubscribed: Unsubscribed,
  pong: Pong,
  token_refreshed: TokenRefreshed,
  editing_started: EditingStarted,
  editing_ended: EditingEnded,
  editors_updated: EditorsUpdated,
  error: ErrorData,
} as const;

export type ReplyEvent = keyof typeof REPLIES;

/** The `data` of a reply (or unsolicited notice) `E`. */
export type ReplyData<E extends ReplyEvent> = v.InferOutput<(typeof REPLIES)[E]>;

export type ChannelEchoData = v.InferOutput<typeof ChannelEcho>;
export type Editor = v.InferOutput<typeof EditorSchema>;
export type DeliveredResourceUpdatedData = v.InferOutput<typeof DeliveredResourceUpdated>;
export type ErrorDetailsData = v.InferOutput<typeof ErrorDetails>;
