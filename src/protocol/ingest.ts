/**
 * What `POST /v1/ingest` accepts: the envelope, one schema per event, and the topic each event
 * is routed to. Pure. New event families (collaboration, QuantEnergx) add entries to
 * INGEST_EVENTS; nothing else changes.
 */
import * as v from "valibot";
import { EDITABLE_RESOURCES, type ResourceRef } from "./equihome/editing";
import * as equihome from "./equihome/server-events";
import { issueDetails, ProtocolError } from "./errors";
import { MAX_INGEST_BATCH, MAX_MESSAGE_ID_LENGTH } from "./limits";
import * as quantenergx from "./quantenergx/events";
import { describeIssues } from "./schemas";
import type { TopicKey } from "./topics";

export interface IngestRoute extends TopicKey {
  /**
   * The resource the event concerns, checked against a publisher token's `resources`. System-wide
   * channels name pseudo-resources (`traffic_light:global`, `system:notifications`), so a token
   * limited to some simulations cannot post to everyone.
   */
  resource: { type: string; id: string };
  /** Set when the event is an edit: it goes through the resource's document, not to the topic. */
  document?: ResourceRef;
}

interface IngestEventSpec {
  // biome-ignore lint/suspicious/noExplicitAny: each entry has its own schema; the table erases it
  schema: v.GenericSchema<unknown, any>;
  route(data: never): IngestRoute;
}

function bySimulation(channel: string) {
  return (data: { simulation_id: string }): IngestRoute => ({
    channel,
    key: data.simulation_id,
    resource: { type: "simulation", id: data.simulation_id },
  });
}

/** A user's private room: `trading:user-123`, reachable by publishers allowed `user:user-123`. */
function userRoom(room: keyof typeof quantenergx.USER_ROOMS) {
  return (data: { userId: string }): IngestRoute => ({
    channel: quantenergx.USER_ROOMS[room].channel,
    key: data.userId,
    resource: { type: "user", id: data.userId },
  });
}

export const INGEST_EVENTS = {
  simulation_progress: { schema: equihome.SimulationProgress, route: bySimulation("simulation_updates") },
  simulation_completed: { schema: equihome.SimulationCompleted, route: bySimulation("simulation_updates") },
  gp_entity_economics_calculation_started: {
    schema: equihome.GpEconomicsStarted,
    route: bySimulation("gp_entity_updates"),
  },
  gp_entity_economics_calculation_progress: {
    schema: equihome.GpEconomicsProgress,
    route: bySimulation("gp_entity_updates"),
  },
  gp_entity_economics_calculation_completed: {
    schema: equihome.GpEconomicsCompleted,
    route: bySimulation("gp_entity_updates"),
  },
  gp_entity_economics_calculation_failed: {
    schema: equihome.GpEconomicsFailed,
    route: bySimulation("gp_entity_updates"),
  },
  traffic_light_update: {
    schema: equihome.TrafficLightUpdate,
    route: (): IngestRoute => ({
      channel: "traffic_light_updates",
      key: null,
      resource: { type: "traffic_light", id: "global" },
    }),
  },
  resource_updated: {
    schema: equihome.ResourceUpdated,
    route: (data: v.InferOutput<typeof equihome.ResourceUpdated>): IngestRoute => ({
      channel: EDITABLE_RESOURCES[data.resource_type].channel,
      key: data.resource_id,
      resource: { type: data.resource_type, id: data.resource_id },
      document: { resource_type: data.resource_type, resource_id: data.resource_id },
    }),
  },
  notification: {
    schema: equihome.Notification,
    route: (): IngestRoute => ({
      channel: "system_notifications",
      key: null,
      resource: { type: "system", id: "notifications" },
    }),
  },
  "market-update": {
    schema: quantenergx.MarketUpdate,
    route: (data: v.InferOutput<typeof quantenergx.MarketUpdate>): IngestRoute => ({
      channel: quantenergx.MARKET_CHANNEL,
      key: data.payload.commodity,
      resource: { type: "commodity", id: data.payload.commodity },
    }),
  },
  "trade-update": { schema: quantenergx.TradeUpdate, route: userRoom("trading") },
  "order-update": { schema: quantenergx.OrderUpdate, route: userRoom("orders") },
  "compliance-alert": { schema: quantenergx.ComplianceAlert, route: userRoom("compliance") },
  "system-alert": {
    schema: quantenergx.SystemAlert,
    route: (): IngestRoute => ({
      channel: quantenergx.SYSTEM_ALERTS_CHANNEL,
      key: null,
      resource: { type: "system", id: "alerts" },
    }),
  },
} satisfies Record<string, IngestEventSpec>;

export type IngestEventName = keyof typeof INGEST_EVENTS;

function isIngestEventName(event: string): event is IngestEventName {
  return Object.hasOwn(INGEST_EVENTS, event);
}

/** One validated event, ready for its topic. */
export interface IngestEvent {
  event: string;
  data: unknown;
  id: string | undefined;
  route: IngestRoute;
}

export interface IngestEventError {
  index: number;
  event: string | null;
  issues: { path: string; message: string }[];
}

/** The envelope of one posted event; `data` is checked by the event's own schema. */
export const IngestEnvelopeSchema = v.strictObject({
  event: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  data: v.unknown(),
  id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_MESSAGE_ID_LENGTH))),
});

/** Validates one posted event; returns the routed event or the reasons it is refused. */
export function validateIngestEvent(raw: unknown, index: number): IngestEvent | IngestEventError {
  const envelope = v.safeParse(IngestEnvelopeSchema, raw);
  if (!envelope.success) {
    const named = v.safeParse(v.object({ event: v.string() }), raw);
    const event = named.success ? named.output.event : null;
    return { index, event, issues: describeIssues(envelope.issues) };
  }
  const { event, data, id } = envelope.output;
  if (!isIngestEventName(event)) {
    return {
      index,
      event,
      issues: [{ path: "event", message: `unknown event; accepted: ${Object.keys(INGEST_EVENTS).join(", ")}` }],
    };
  }
  const spec: IngestEventSpec = INGEST_EVENTS[event];
  const parsed = v.safeParse(spec.schema, data);
  if (!parsed.success) {
    return {
      index,
      event,
      issues: describeIssues(parsed.issues).map((issue) => ({
        ...issue,
        path: `data.${issue.path}`.replace(/\.$/, ""),
      })),
    };
  }
  return { event, data: parsed.output, id, route: spec.route(parsed.output as never) };
}

/**
 * Validates a whole ingest body (one event or an array of them). All or nothing: any bad event
 * throws `invalid_message` with every event's issues in `details.errors`.
 */
export function validateIngestBody(body: unknown): IngestEvent[] {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) {
    throw new ProtocolError("invalid_message", "The batch is empty");
  }
  if (items.length > MAX_INGEST_BATCH) {
    throw new ProtocolError("invalid_message", `A batch holds at most ${MAX_INGEST_BATCH} events`, {
      details: issueDetails("batch_too_large", { limit: MAX_INGEST_BATCH, received: items.length }),
      status: 413,
    });
  }
  const events: IngestEvent[] = [];
  const errors: IngestEventError[] = [];
  items.forEach((item, index) => {
    const result = validateIngestEvent(item, index);
    if ("issues" in result) errors.push(result);
    else events.push(result);
  });
  if (errors.length > 0) {
    throw new ProtocolError(
      "invalid_message",
      `${errors.length} of ${items.length} events are invalid; none was accepted`,
      {
        details: { errors },
      },
    );
  }
  return events;
}
