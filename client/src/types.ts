/**
 * The SDK's protocol types, derived from the server's own definitions: channel event payloads are
 * `v.InferOutput` of the valibot schemas that `/v1/ingest` validates with (src/protocol/ingest.ts,
 * src/protocol/equihome/server-events.ts); replies, notices, errors and `resource_updated` as
 * delivered are those of the schemas the hub encodes them with (src/protocol/equihome/replies.ts);
 * channels and key fields come from src/protocol/equihome/channels.ts. Only types are imported
 * from the schemas, so the SDK's bundle carries no valibot, and frames are not validated at run
 * time: the server builds them from these types.
 */
import type * as v from "valibot";
import type { CHANNELS, ChannelName } from "../../src/protocol/equihome/channels";
import type { EDITABLE_RESOURCES, EditableResourceType } from "../../src/protocol/equihome/editing";
import type { DeliveredResourceUpdatedData, Editor, ReplyData, ReplyEvent } from "../../src/protocol/equihome/replies";
import type { INGEST_EVENTS, IngestEventName } from "../../src/protocol/ingest";

export type { ChannelName, EditableResourceType, Editor };

/** The events each channel carries (the routing of src/protocol/ingest.ts, by name). */
export const CHANNEL_EVENTS = {
  simulation_updates: ["simulation_progress", "simulation_completed"],
  gp_entity_updates: [
    "gp_entity_economics_calculation_started",
    "gp_entity_economics_calculation_progress",
    "gp_entity_economics_calculation_completed",
    "gp_entity_economics_calculation_failed",
  ],
  portfolio_updates: ["resource_updated"],
  fund_updates: ["resource_updated"],
  system_notifications: ["notification"],
  traffic_light_updates: ["traffic_light_update"],
} as const satisfies Record<ChannelName, readonly IngestEventName[]>;

/** The channel of each editable resource type (checked against the server's table). */
export const RESOURCE_CHANNELS = {
  fund: "fund_updates",
  portfolio: "portfolio_updates",
} as const satisfies { [T in EditableResourceType]: (typeof EDITABLE_RESOURCES)[T]["channel"] };

export type ChannelEventName = (typeof CHANNEL_EVENTS)[ChannelName][number];
/** The events of one channel. */
export type EventsOf<C extends ChannelName> = (typeof CHANNEL_EVENTS)[C][number];

type SchemaOutput<E extends IngestEventName> = v.InferOutput<(typeof INGEST_EVENTS)[E]["schema"]>;

/**
 * Each channel event's `data`, as the server validated it. `resource_updated` is the one the
 * server delivers (replies.ts `DeliveredResourceUpdated`): it may also carry `deleted: true` (a
 * key a Yjs client removed), which ingest never accepts.
 */
export type ChannelEvents = {
  [E in ChannelEventName]: E extends "resource_updated" ? DeliveredResourceUpdatedData : SchemaOutput<E>;
};

/** Each reply's (and unsolicited notice's) `data`, by event: `subscribed`, `pong`, `error`, … */
export type Replies = { [E in ReplyEvent]: ReplyData<E> };

type KeyField<C extends ChannelName> = (typeof CHANNELS)[C]["keyField"];

/** `subscribe` parameters: the channel, its key field (if it has one), `zones` for traffic lights. */
export type SubscribeParams<C extends ChannelName> = { channel: C } & (KeyField<C> extends string
  ? { [F in KeyField<C>]: string }
  : unknown) &
  (C extends "traffic_light_updates" ? { zones?: string[] } : unknown);

/** Where a channel event came from. */
export interface EventMeta {
  channel: ChannelName;
  /** The channel's key (simulation, fund or portfolio id), null for system-wide channels. */
  key: string | null;
  seq: number;
  /** The publisher's event id, or the id of the `update_resource` this event acknowledges. */
  id?: string | number;
}

export interface ResourceRef {
  resource_type: EditableResourceType;
  resource_id: string;
}

/**
 * Events of a subscription were lost and cannot be replayed (`recovered: false`: the history
 * after the last seen seq is no longer held, or the server resynced the socket). The
 * application must reload the state from its source of truth; the events that follow carry on
 * from `seq`.
 */
export interface ReloadInfo {
  channel: ChannelName;
  key: string | null;
  /** The new baseline: the topic's seq; the next live event is seq + 1. */
  seq: number;
}
