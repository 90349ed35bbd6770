import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../../src/protocol/errors";
import {
  INGEST_EVENTS,
  type IngestEvent,
  type IngestEventError,
  validateIngestBody,
  validateIngestEvent,
} from "../../../src/protocol/ingest";
import { MAX_ID_LENGTH, MAX_INGEST_BATCH, MAX_MESSAGE_ID_LENGTH, MAX_TEXT_LENGTH } from "../../../src/protocol/limits";

/** The server-event examples of the Equihome protocol document, verbatim. */
const SEED_EXAMPLES = {
  simulation_progress: {
    event: "simulation_progress",
    data: {
      simulation_id: "simulation_789",
      progress: 45,
      status: "processing",
      message: "Processing scenario 450/1000",
      estimated_completion_time: "2023-01-01T00:05:00Z",
    },
  },
  simulation_completed: {
    event: "simulation_completed",
    data: {
      simulation_id: "simulation_789",
      status: "completed",
      summary: {
        mean_irr: 0.13,
        median_irr: 0.12,
        irr_std_dev: 0.02,
      },
    },
  },
  gp_entity_economics_calculation_started: {
    event: "gp_entity_economics_calculation_started",
    data: {
      simulation_id: "simulation_789",
      timestamp: "2023-01-01T12:00:00Z",
    },
  },
  gp_entity_economics_calculation_progress: {
    event: "gp_entity_economics_calculation_progress",
    data: {
      simulation_id: "simulation_789",
      progress: 50,
      step: "calculating_management_company_metrics",
      message: "Calculating management company metrics",
      timestamp: "2023-01-01T12:00:05Z",
    },
  },
  gp_entity_economics_calculation_completed: {
    event: "gp_entity_economics_calculation_completed",
    data: {
      simulation_id: "simulation_789",
      summary: {
        total_revenue: 2500000,
        total_expenses: 4183627,
        total_net_income: -1683627,
        profit_margin: -0.6734,
      },
      timestamp: "2023-01-01T12:00:10Z",
    },
  },
  gp_entity_economics_calculation_failed: {
    event: "gp_entity_economics_calculation_failed",
    data: {
      simulation_id: "simulation_789",
      error: "Failed to calculate GP entity economics: Invalid configuration",
      timestamp: "2023-01-01T12:00:10Z",
    },
  },
  traffic_light_update: {
    event: "traffic_light_update",
    data: {
      timestamp: "2023-01-01T12:00:00Z",
      zone_updates: {
        green: {
          appreciation_rate: 0.035,
          default_rate: 0.015,
          risk_score: 2,
        },
        orange: {
          appreciation_rate: 0.06,
          default_rate: 0.045,
          risk_score: 5,
        },
        red: {
          appreciation_rate: 0.09,
          default_rate: 0.085,
          risk_score: 8,
        },
      },
      market_conditions: {
        interest_rate_environment: "rising",
        economic_outlook: "stable",
        housing_market_trend: "appreciating",
      },
    },
  },
  resource_updated: {
    event: "resource_updated",
    data: {
      resource_type: "fund",
      resource_id: "fund_123",
      path: "fee_structure.management_fee_rate",
      value: 0.025,
      updated_by: "user@example.com",
    },
  },
  notification: {
    event: "notification",
    data: {
      type: "info",
      message: "System maintenance scheduled for 2023-01-15",
      timestamp: "2023-01-01T00:00:00Z",
    },
  },
} as const;

type SeedEvent = keyof typeof SEED_EXAMPLES;

const EXPECTED_ROUTES: Record<SeedEvent, IngestEvent["route"]> = {
  simulation_progress: {
    channel: "simulation_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  simulation_completed: {
    channel: "simulation_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  gp_entity_economics_calculation_started: {
    channel: "gp_entity_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  gp_entity_economics_calculation_progress: {
    channel: "gp_entity_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  gp_entity_economics_calculation_completed: {
    channel: "gp_entity_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  gp_entity_economics_calculation_failed: {
    channel: "gp_entity_updates",
    key: "simulation_789",
    resource: { type: "simulation", id: "simulation_789" },
  },
  traffic_light_update: {
    channel: "traffic_light_updates",
    key: null,
    resource: { type: "traffic_light", id: "global" },
  },
  resource_updated: {
    channel: "fund_updates",
    key: "fund_123",
    resource: { type: "fund", id: "fund_123" },
  },
  notification: {
    channel: "system_notifications",
    key: null,
    resource: { type: "system", id: "notifications" },
  },
};

/** A deep copy of a seed example whose data is open to edits. */
function example(name: SeedEvent): { event: string; data: Record<string, unknown>; id?: unknown } {
  return structuredClone(SEED_EXAMPLES[name]) as unknown as { event: string; data: Record<string, unknown> };
}

function withData(name: SeedEvent, patch: Record<string, unknown>): { event: string; data: Record<string, unknown> } {
  const base = example(name);
  return { ...base, data: { ...base.data, ...patch } };
}

function withoutField(name: SeedEvent, field: string): { event: string; data: Record<string, unknown> } {
  const base = example(name);
  const { [field]: _dropped, ...data } = base.data;
  return { ...base, data };
}

function expectEvent(result: IngestEvent | IngestEventError): IngestEvent {
  if ("issues" in result) throw new Error(`expected an accepted event, got ${JSON.stringify(result.issues)}`);
  return result;
}

function expectRefusal(result: IngestEvent | IngestEventError): IngestEventError {
  if (!("issues" in result)) throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  expect(result.issues.length).toBeGreaterThan(0);
  return result;
}

function paths(result: IngestEventError): string[] {
  return result.issues.map((issue) => issue.path);
}

function bodyError(body: unknown): ProtocolError {
  try {
    validateIngestBody(body);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error("expected validateIngestBody to throw");
}

describe("ingest: the seed's server events", () => {
  const names = Object.keys(SEED_EXAMPLES) as SeedEvent[];

  it("every seed example names an ingest event", () => {
    for (const name of names) expect(Object.hasOwn(INGEST_EVENTS, name)).toBe(true);
  });

  it.each(names)("accepts the seed's exact %s example and routes it", (name) => {
    const result = expectEvent(validateIngestEvent(example(name), 0));
    expect(result.event).toBe(name);
    expect(result.data).toEqual(SEED_EXAMPLES[name].data);
    expect(result.id).toBeUndefined();
    expect(result.route).toMatchObject(EXPECTED_ROUTES[name]);
  });

  it("routes by the event's own simulation_id", () => {
    const result = expectEvent(validateIngestEvent(withData("simulation_progress", { simulation_id: "sim_A" }), 0));
    expect(result.route).toEqual({
      channel: "simulation_updates",
      key: "sim_A",
      resource: { type: "simulation", id: "sim_A" },
    });
  });

  it("carries the publisher's event id", () => {
    const result = expectEvent(validateIngestEvent({ ...example("notification"), id: "evt_1" }, 0));
    expect(result.id).toBe("evt_1");
  });

  it("accepts all the seed examples as one batch, in order", () => {
    const events = validateIngestBody(names.map((name) => example(name)));
    expect(events.map((event) => event.event)).toEqual(names);
  });

  it("accepts a single event that is not wrapped in an array", () => {
    const events = validateIngestBody(example("simulation_progress"));
    expect(events).toHaveLength(1);
    expect(events[0]?.route.key).toBe("simulation_789");
  });
});

describe("ingest: resource_updated", () => {
  it("routes a portfolio update to portfolio_updates by its resource_id", () => {
    const result = expectEvent(
      validateIngestEvent(
        withData("resource_updated", { resource_type: "portfolio", resource_id: "portfolio_456" }),
        0,
      ),
    );
    expect(result.route).toMatchObject({
      channel: "portfolio_updates",
      key: "portfolio_456",
      resource: { type: "portfolio", id: "portfolio_456" },
    });
  });

  it.each([
    ["a resource type without updates channel", { resource_type: "simulation" }, "data.resource_type"],
    ["an empty resource_id", { resource_id: "" }, "data.resource_id"],
    ["a path through __proto__", { path: "__proto__.polluted" }, "data.path"],
    ["a path with an uppercase segment", { path: "Fee_structure.rate" }, "data.path"],
    ["a path deeper than 8 segments", { path: "a.b.c.d.e.f.g.h.i" }, "data.path"],
    ["an empty updated_by", { updated_by: "" }, "data.updated_by"],
  ])("refuses %s", (_label, patch, path) => {
    const refusal = expectRefusal(validateIngestEvent(withData("resource_updated", patch), 0));
    expect(paths(refusal)).toContain(path);
  });

  it("refuses a resource_updated without value", () => {
    const refusal = expectRefusal(validateIngestEvent(withoutField("resource_updated", "value"), 0));
    expect(paths(refusal)).toContain("data.value");
  });
});

describe("ingest: optional and boundary fields", () => {
  it("accepts simulation_progress without its optional message and estimated_completion_time", () => {
    const base = withoutField("simulation_progress", "message");
    const { estimated_completion_time: _e, ...data } = base.data;
    expectEvent(validateIngestEvent({ ...base, data }, 0));
  });

  it.each([[0], [100], [99.5]])("accepts progress %d", (progress) => {
    expectEvent(validateIngestEvent(withData("simulation_progress", { progress }), 0));
    expectEvent(validateIngestEvent(withData("gp_entity_economics_calculation_progress", { progress }), 0));
  });

  it("accepts a null metric in a summary", () => {
    expectEvent(validateIngestEvent(withData("simulation_completed", { summary: { mean_irr: null } }), 0));
  });

  it("accepts a traffic_light_update without market_conditions", () => {
    expectEvent(validateIngestEvent(withoutField("traffic_light_update", "market_conditions"), 0));
  });

  it("accepts timestamps with milliseconds and offsets", () => {
    for (const timestamp of ["2023-01-01T12:00:00.123Z", "2023-01-01T12:00:00+02:00"]) {
      expectEvent(validateIngestEvent(withData("gp_entity_economics_calculation_started", { timestamp }), 0));
    }
  });

  it("accepts an id of exactly MAX_ID_LENGTH characters and a message of MAX_TEXT_LENGTH", () => {
    expectEvent(
      validateIngestEvent(
        withData("simulation_progress", {
          simulation_id: "s".repeat(MAX_ID_LENGTH),
          message: "m".repeat(MAX_TEXT_LENGTH),
        }),
        0,
      ),
    );
  });
});

describe("ingest: refused events name the path", () => {
  it.each([
    ["progress over 100", "simulation_progress", { progress: 101 }, "data.progress"],
    ["progress below 0", "simulation_progress", { progress: -1 }, "data.progress"],
    ["progress as a string", "simulation_progress", { progress: "45" }, "data.progress"],
    ["progress as null", "simulation_progress", { progress: null }, "data.progress"],
    ["gp progress over 100", "gp_entity_economics_calculation_progress", { progress: 101 }, "data.progress"],
    ["an empty simulation_id", "simulation_progress", { simulation_id: "" }, "data.simulation_id"],
    [
      "a simulation_id over MAX_ID_LENGTH",
      "simulation_completed",
      { simulation_id: "s".repeat(MAX_ID_LENGTH + 1) },
      "data.simulation_id",
    ],
    [
      "a numeric simulation_id",
      "gp_entity_economics_calculation_started",
      { simulation_id: 789 },
      "data.simulation_id",
    ],
    ["a simulation_id with a newline", "simulation_progress", { simulation_id: "a\nb" }, "data.simulation_id"],
    [
      "a timestamp that is not ISO 8601",
      "gp_entity_economics_calculation_started",
      { timestamp: "yesterday" },
      "data.timestamp",
    ],
    ["a timestamp as epoch ms", "notification", { timestamp: 1672531200000 }, "data.timestamp"],
    ["month 13", "gp_entity_economics_calculation_failed", { timestamp: "2023-13-01T12:00:10Z" }, "data.timestamp"],
    [
      "a bad estimated_completion_time",
      "simulation_progress",
      { estimated_completion_time: "soon" },
      "data.estimated_completion_time",
    ],
    ["an unknown field", "simulation_progress", { progres: 45 }, "data.progres"],
    ["an extra field on notification", "notification", { level: "high" }, "data.level"],
    ["an empty status", "simulation_progress", { status: "" }, "data.status"],
    ["a status over 64 characters", "simulation_completed", { status: "s".repeat(65) }, "data.status"],
    ["an empty step", "gp_entity_economics_calculation_progress", { step: "" }, "data.step"],
    [
      "a message over MAX_TEXT_LENGTH",
      "simulation_progress",
      { message: "m".repeat(MAX_TEXT_LENGTH + 1) },
      "data.message",
    ],
    [
      "an error over MAX_TEXT_LENGTH",
      "gp_entity_economics_calculation_failed",
      { error: "e".repeat(MAX_TEXT_LENGTH + 1) },
      "data.error",
    ],
    ["an empty notification message", "notification", { message: "" }, "data.message"],
    ["an empty notification type", "notification", { type: "" }, "data.type"],
    [
      "a summary metric that is a string",
      "simulation_completed",
      { summary: { mean_irr: "0.13" } },
      "data.summary.mean_irr",
    ],
    [
      "a gp summary metric that is an object",
      "gp_entity_economics_calculation_completed",
      { summary: { total_revenue: { usd: 1 } } },
      "data.summary.total_revenue",
    ],
  ])("refuses %s", (_label, name, patch, path) => {
    const refusal = expectRefusal(validateIngestEvent(withData(name as SeedEvent, patch), 3));
    expect(refusal.index).toBe(3);
    expect(refusal.event).toBe(name);
    expect(paths(refusal)).toContain(path);
  });

  it("refuses a summary metric name that is not a metric name", () => {
    const refusal = expectRefusal(
      validateIngestEvent(withData("simulation_completed", { summary: { "mean irr": 0.1 } }), 0),
    );
    expect(paths(refusal).some((path) => path.startsWith("data.summary"))).toBe(true);
  });

  it("refuses a summary that is a list of numbers", () => {
    const refusal = expectRefusal(validateIngestEvent(withData("simulation_completed", { summary: [0.13] }), 0));
    expect(paths(refusal).every((path) => path.startsWith("data.summary"))).toBe(true);
  });

  // Regression (fixed in server-events.ts): valibot's record() takes an array for an object, so an
  // empty list where the seed shows a map (summary, zone_updates, market_conditions) is accepted and
  // silently rewritten to {}: a wrongly typed field is not refused, against the contract's "every field
  // is validated against the types the seeds show".
  it.each([
    ["simulation_completed", "summary"],
    ["gp_entity_economics_calculation_completed", "summary"],
    ["traffic_light_update", "zone_updates"],
    ["traffic_light_update", "market_conditions"],
  ])("refuses an empty list as the %s %s map", (name, field) => {
    const refusal = expectRefusal(validateIngestEvent(withData(name as SeedEvent, { [field]: [] }), 0));
    expect(paths(refusal)).toContain(`data.${field}`);
  });

  it("refuses a summary of more than 100 metrics", () => {
    const summary = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`m${i}`, i]));
    const refusal = expectRefusal(validateIngestEvent(withData("simulation_completed", { summary }), 0));
    expect(paths(refusal)).toContain("data.summary");
  });

  it.each([
    ["missing simulation_id", "simulation_progress", "simulation_id"],
    ["missing progress", "simulation_progress", "progress"],
    ["missing status", "simulation_completed", "status"],
    ["missing summary", "gp_entity_economics_calculation_completed", "summary"],
    ["missing timestamp", "gp_entity_economics_calculation_started", "timestamp"],
    ["missing error", "gp_entity_economics_calculation_failed", "error"],
    ["missing step", "gp_entity_economics_calculation_progress", "step"],
    ["missing zone_updates", "traffic_light_update", "zone_updates"],
    ["missing message", "notification", "message"],
    ["missing type", "notification", "type"],
  ])("refuses %s", (_label, name, field) => {
    const refusal = expectRefusal(validateIngestEvent(withoutField(name as SeedEvent, field), 0));
    expect(paths(refusal)).toContain(`data.${field}`);
  });

  it("refuses a zone update with a string risk score, naming the zone", () => {
    const base = example("traffic_light_update");
    const zone_updates = { green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: "2" } };
    const refusal = expectRefusal(validateIngestEvent({ ...base, data: { ...base.data, zone_updates } }, 0));
    expect(paths(refusal)).toContain("data.zone_updates.green.risk_score");
  });

  it("refuses a zone update with an unknown rate", () => {
    const zone_updates = { green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: 2, vacancy: 0.1 } };
    const refusal = expectRefusal(validateIngestEvent(withData("traffic_light_update", { zone_updates }), 0));
    expect(paths(refusal)).toContain("data.zone_updates.green.vacancy");
  });

  it("refuses an uppercase zone name", () => {
    const zone_updates = { Green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: 2 } };
    const refusal = expectRefusal(validateIngestEvent(withData("traffic_light_update", { zone_updates }), 0));
    expect(paths(refusal).some((path) => path.startsWith("data.zone_updates"))).toBe(true);
  });

  it("refuses more than 16 zones", () => {
    const zone = { appreciation_rate: 0, default_rate: 0, risk_score: 0 };
    const zone_updates = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`z${i}`, zone]));
    const refusal = expectRefusal(validateIngestEvent(withData("traffic_light_update", { zone_updates }), 0));
    expect(paths(refusal)).toContain("data.zone_updates");
  });

  it("refuses a market condition that is not text", () => {
    const refusal = expectRefusal(
      validateIngestEvent(withData("traffic_light_update", { market_conditions: { economic_outlook: 3 } }), 0),
    );
    expect(paths(refusal)).toContain("data.market_conditions.economic_outlook");
  });

  it.each([
    ["null", null],
    ["a string", "simulation_789"],
    ["a number", 45],
  ])("refuses data that is %s with the path data", (_label, data) => {
    const refusal = expectRefusal(validateIngestEvent({ event: "simulation_progress", data }, 0));
    expect(paths(refusal)).toEqual(["data"]);
  });

  it("refuses data that is a list", () => {
    const refusal = expectRefusal(validateIngestEvent({ event: "simulation_progress", data: [] }, 0));
    expect(paths(refusal).every((path) => path.startsWith("data"))).toBe(true);
  });

  it("refuses an event without data", () => {
    const refusal = expectRefusal(validateIngestEvent({ event: "notification" }, 0));
    expect(paths(refusal)).toContain("data");
  });
});

describe("ingest: the envelope", () => {
  it("refuses an unknown event name and lists the accepted ones", () => {
    const refusal = expectRefusal(validateIngestEvent({ event: "simulation_started", data: {} }, 2));
    expect(refusal).toMatchObject({ index: 2, event: "simulation_started" });
    expect(paths(refusal)).toEqual(["event"]);
    for (const name of Object.keys(INGEST_EVENTS)) expect(refusal.issues[0]?.message).toContain(name);
  });

  it.each([["__proto__"], ["constructor"], ["toString"], ["hasOwnProperty"]])(
    "refuses the inherited property name %s as an unknown event",
    (event) => {
      const refusal = expectRefusal(validateIngestEvent({ event, data: {} }, 0));
      expect(paths(refusal)).toEqual(["event"]);
    },
  );

  it("refuses a client event such as subscribe", () => {
    expectRefusal(
      validateIngestEvent({ event: "subscribe", data: { channel: "simulation_updates", simulation_id: "s" } }, 0),
    );
  });

  it.each([
    ["missing", { data: {} }],
    ["a number", { event: 1, data: {} }],
    ["empty", { event: "", data: {} }],
    ["over 64 characters", { event: "e".repeat(65), data: {} }],
  ])("refuses an event name that is %s", (_label, raw) => {
    const refusal = expectRefusal(validateIngestEvent(raw, 0));
    expect(paths(refusal)).toContain("event");
  });

  it("reports the event name of an envelope it refuses when the name is a string", () => {
    const refusal = expectRefusal(validateIngestEvent({ ...example("notification"), id: 5 }, 0));
    expect(refusal.event).toBe("notification");
    expect(paths(refusal)).toEqual(["id"]);
  });

  it.each([
    ["a number", 5],
    ["empty", ""],
    ["null", null],
    ["over MAX_MESSAGE_ID_LENGTH", "i".repeat(MAX_MESSAGE_ID_LENGTH + 1)],
  ])("refuses an event id that is %s", (_label, id) => {
    const refusal = expectRefusal(validateIngestEvent({ ...example("notification"), id }, 0));
    expect(paths(refusal)).toEqual(["id"]);
  });

  it("accepts an event id of exactly MAX_MESSAGE_ID_LENGTH characters", () => {
    const id = "i".repeat(MAX_MESSAGE_ID_LENGTH);
    expect(expectEvent(validateIngestEvent({ ...example("notification"), id }, 0)).id).toBe(id);
  });

  it("refuses an unknown top-level field such as a publisher-chosen seq", () => {
    const refusal = expectRefusal(validateIngestEvent({ ...example("notification"), seq: 9 }, 0));
    expect(paths(refusal)).toEqual(["seq"]);
  });

  it.each([
    ["null", null],
    ["a string", "notification"],
    ["a number", 1],
    ["a list", [example("notification")]],
  ])("refuses an event that is %s, with no event name", (_label, raw) => {
    const refusal = expectRefusal(validateIngestEvent(raw, 4));
    expect(refusal).toMatchObject({ index: 4, event: null });
  });
});

describe("ingest: batches", () => {
  it("refuses an empty batch", () => {
    const error = bodyError([]);
    expect(error.code).toBe("invalid_message");
    expect(error.status).toBe(400);
  });

  it(`accepts exactly MAX_INGEST_BATCH (${MAX_INGEST_BATCH}) events`, () => {
    const events = validateIngestBody(
      Array.from({ length: MAX_INGEST_BATCH }, (_, i) => withData("simulation_progress", { progress: i })),
    );
    expect(events).toHaveLength(MAX_INGEST_BATCH);
  });

  it("refuses more than MAX_INGEST_BATCH events with status 413, before validating any", () => {
    const error = bodyError(Array.from({ length: MAX_INGEST_BATCH + 1 }, () => ({ event: "bogus" })));
    expect(error.code).toBe("invalid_message");
    expect(error.status).toBe(413);
    expect(error.details).toEqual({
      issue: "batch_too_large",
      limit: MAX_INGEST_BATCH,
      received: MAX_INGEST_BATCH + 1,
    });
  });

  it("refuses the whole batch for one bad event, with that event's index and path", () => {
    const batch = [
      example("simulation_progress"),
      example("notification"),
      withData("simulation_progress", { progress: 101 }),
      example("traffic_light_update"),
    ];
    const error = bodyError(batch);
    expect(error.code).toBe("invalid_message");
    expect(error.status).toBe(400);
    const errors = error.details?.errors as IngestEventError[];
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ index: 2, event: "simulation_progress" });
    expect(errors[0]?.issues.map((issue) => issue.path)).toContain("data.progress");
  });

  it("reports every bad event of a batch by index", () => {
    const batch = [
      { event: "nope", data: {} },
      example("notification"),
      withoutField("gp_entity_economics_calculation_started", "simulation_id"),
      null,
    ];
    const errors = bodyError(batch).details?.errors as IngestEventError[];
    expect(errors.map((error) => [error.index, error.event])).toEqual([
      [0, "nope"],
      [2, "gp_entity_economics_calculation_started"],
      [3, null],
    ]);
    expect(errors[1]?.issues.map((issue) => issue.path)).toContain("data.simulation_id");
  });

  it("reports a refused single (unwrapped) event at index 0", () => {
    const errors = bodyError(withData("simulation_progress", { progress: "45" })).details?.errors as IngestEventError[];
    expect(errors).toEqual([
      expect.objectContaining({
        index: 0,
        event: "simulation_progress",
        issues: [expect.objectContaining({ path: "data.progress" })],
      }),
    ]);
  });

  it.each([
    ["null", null],
    ["a string", "hello"],
    ["a number", 42],
  ])("refuses a body that is %s", (_label, body) => {
    const error = bodyError(body);
    expect(error.code).toBe("invalid_message");
    expect(error.details?.errors).toEqual([expect.objectContaining({ index: 0, event: null })]);
  });
});
