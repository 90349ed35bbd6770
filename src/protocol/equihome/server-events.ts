/**
 * Valibot schemas for the Equihome server events that publishers post to `/v1/ingest`, from the
 * shapes of the Equihome protocol document (docs/PROTOCOL.md). Objects are strict: a misspelt field is an
 * error the publisher sees, not data silently dropped or forwarded unchecked. Open-ended maps
 * (summaries, zones, market conditions) are records of the value types the seed shows.
 */
import * as v from "valibot";
import { FiniteNumber, IdSchema, PlainObject, ShortText, Text, Timestamp } from "../schemas";
import { checkValue, EDITABLE_RESOURCES, parsePath } from "./editing";

const Percent = v.pipe(v.number(), v.minValue(0), v.maxValue(100));
const MetricName = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a metric name"));
const Summary = v.pipe(
  PlainObject,
  v.record(MetricName, v.nullable(FiniteNumber)),
  v.check((value) => Object.keys(value).length <= 100, "at most 100 metrics"),
);

export const SimulationProgress = v.strictObject({
  simulation_id: IdSchema,
  progress: Percent,
  status: ShortText,
  message: v.optional(Text),
  estimated_completion_time: v.optional(Timestamp),
});

export const SimulationCompleted = v.strictObject({
  simulation_id: IdSchema,
  status: ShortText,
  summary: Summary,
});

export const GpEconomicsStarted = v.strictObject({
  simulation_id: IdSchema,
  timestamp: Timestamp,
});

export const GpEconomicsProgress = v.strictObject({
  simulation_id: IdSchema,
  progress: Percent,
  step: ShortText,
  message: v.optional(Text),
  timestamp: Timestamp,
});

export const GpEconomicsCompleted = v.strictObject({
  simulation_id: IdSchema,
  summary: Summary,
  timestamp: Timestamp,
});

export const GpEconomicsFailed = v.strictObject({
  simulation_id: IdSchema,
  error: Text,
  timestamp: Timestamp,
});

const ZoneName = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_]{0,31}$/, "zone must be a lowercase name"));

export const TrafficLightUpdate = v.strictObject({
  timestamp: Timestamp,
  zone_updates: v.pipe(
    PlainObject,
    v.record(
      ZoneName,
      v.strictObject({
        appreciation_rate: FiniteNumber,
        default_rate: FiniteNumber,
        risk_score: FiniteNumber,
      }),
    ),
    v.check((value) => Object.keys(value).length <= 16, "at most 16 zones"),
  ),
  market_conditions: v.optional(
    v.pipe(
      PlainObject,
      v.record(MetricName, ShortText),
      v.check((value) => Object.keys(value).length <= 32, "at most 32 conditions"),
    ),
  ),
});

export const Notification = v.strictObject({
  type: ShortText,
  message: v.pipe(Text, v.minLength(1)),
  timestamp: Timestamp,
});

const passes = (check: () => void): boolean => {
  try {
    check();
    return true;
  } catch {
    return false;
  }
};

export const ResourceUpdated = v.strictObject({
  resource_type: v.picklist(Object.keys(EDITABLE_RESOURCES) as (keyof typeof EDITABLE_RESOURCES)[]),
  resource_id: IdSchema,
  path: v.pipe(
    v.string(),
    v.check(
      (path) => passes(() => parsePath(path)),
      "must be [a-z_][a-z0-9_]* segments joined by '.', depth at most 8",
    ),
  ),
  value: v.custom<unknown>(
    (value) => passes(() => checkValue(value)),
    "must be a JSON value of at most 16 KiB, nested at most 32 deep, with finite numbers, keys of at most 256 characters and no __proto__ key",
  ),
  updated_by: v.pipe(v.string(), v.minLength(1), v.maxLength(254)),
});
