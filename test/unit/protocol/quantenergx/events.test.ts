import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  INGEST_EVENTS,
  type IngestEvent,
  type IngestEventError,
  validateIngestEvent,
} from "../../../../src/protocol/ingest";
import { MAX_TEXT_LENGTH } from "../../../../src/protocol/limits";
import {
  AuthenticateSchema,
  CommodityListSchema,
  MARKET_CHANNEL,
  MAX_COMMODITIES_PER_REQUEST,
  SYSTEM_ALERTS_CHANNEL,
  USER_ROOMS,
  UserIdSchema,
} from "../../../../src/protocol/quantenergx/events";
import { topicName } from "../../../../src/protocol/topics";

/** The server-event payloads of the QuantEnergx protocol document, verbatim. */
const SEED_EXAMPLES = {
  "market-update": {
    type: "MARKET_UPDATE",
    payload: {
      commodity: "crude_oil",
      price: 75.25,
      change: 0.75,
      changePercent: 1.01,
      volume: 125000,
      timestamp: "2024-07-29T22:00:00.000Z",
      bid: 75.2,
      ask: 75.3,
    },
    timestamp: "2024-07-29T22:00:00.000Z",
  },
  "trade-update": {
    type: "TRADE_UPDATE",
    payload: {
      id: "trade-123",
      orderId: "order-456",
      userId: "user-123",
      commodity: "crude_oil",
      quantity: 1000,
      price: 75.25,
      side: "buy",
      status: "executed",
      executionTime: "2024-07-29T22:00:00.000Z",
    },
    timestamp: "2024-07-29T22:00:00.000Z",
    userId: "user-123",
  },
  "order-update": {
    type: "ORDER_UPDATE",
    payload: {
      id: "order-456",
      userId: "user-123",
      status: "partially_filled",
      filledQuantity: 500,
      remainingQuantity: 500,
      averagePrice: 75.23,
      timestamp: "2024-07-29T22:00:00.000Z",
    },
    timestamp: "2024-07-29T22:00:00.000Z",
    userId: "user-123",
  },
  "system-alert": {
    type: "SYSTEM_ALERT",
    payload: {
      alertType: "market_volatility",
      severity: "warning",
      message: "High volatility detected in crude oil market",
      affectedCommodities: ["crude_oil"],
      timestamp: "2024-07-29T22:00:00.000Z",
    },
    timestamp: "2024-07-29T22:00:00.000Z",
  },
  "compliance-alert": {
    type: "SYSTEM_ALERT",
    payload: {
      type: "COMPLIANCE_ALERT",
      checkType: "position_limit",
      severity: "high",
      message: "Position limit approaching for crude oil",
      userId: "user-123",
      details: {
        currentPosition: 9500000,
        limit: 10000000,
        utilization: 0.95,
      },
    },
    timestamp: "2024-07-29T22:00:00.000Z",
    userId: "user-123",
  },
} as const;

type SeedEvent = keyof typeof SEED_EXAMPLES;
const SEED_EVENTS = Object.keys(SEED_EXAMPLES) as SeedEvent[];

const EXPECTED_ROUTES: Record<
  SeedEvent,
  { channel: string; key: string | null; resource: { type: string; id: string } }
> = {
  "market-update": { channel: "market", key: "crude_oil", resource: { type: "commodity", id: "crude_oil" } },
  "trade-update": { channel: "trading", key: "user-123", resource: { type: "user", id: "user-123" } },
  "order-update": { channel: "orders", key: "user-123", resource: { type: "user", id: "user-123" } },
  "compliance-alert": { channel: "compliance", key: "user-123", resource: { type: "user", id: "user-123" } },
  "system-alert": { channel: "system_alerts", key: null, resource: { type: "system", id: "alerts" } },
};

const EXPECTED_TOPICS: Record<SeedEvent, string> = {
  "market-update": "market:crude_oil",
  "trade-update": "trading:user-123",
  "order-update": "orders:user-123",
  "compliance-alert": "compliance:user-123",
  "system-alert": "system_alerts",
};

type Json = Record<string, unknown>;

/** A deep copy of a seed example, as a mutable JSON object. */
function seedData(name: SeedEvent): Json {
  return structuredClone(SEED_EXAMPLES[name]) as unknown as Json;
}

function payloadOf(data: Json): Json {
  const payload = data.payload;
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw new Error("no payload");
  return payload as Json;
}

/** The seed example with some payload fields replaced (undefined: removed). */
function withPayload(name: SeedEvent, patch: Json): Json {
  const data = seedData(name);
  const payload = payloadOf(data);
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete payload[key];
    else payload[key] = value;
  }
  return data;
}

/** The seed example with some top-level fields replaced (undefined: removed). */
function withTop(name: SeedEvent, patch: Json): Json {
  const data = seedData(name);
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete data[key];
    else data[key] = value;
  }
  return data;
}

function ingest(event: string, data: unknown, id?: string): IngestEvent | IngestEventError {
  return validateIngestEvent(id === undefined ? { event, data } : { event, data, id }, 0);
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

describe("the seed's QuantEnergx server events through /v1/ingest", () => {
  it("every seed event is an ingest event", () => {
    for (const name of SEED_EVENTS) expect(Object.hasOwn(INGEST_EVENTS, name)).toBe(true);
  });

  it.each(SEED_EVENTS)("accepts the seed's exact %s payload, unchanged", (name) => {
    const result = expectEvent(ingest(name, SEED_EXAMPLES[name]));
    expect(result.event).toBe(name);
    expect(result.data).toEqual(SEED_EXAMPLES[name]);
    expect(result.id).toBeUndefined();
    expect(result.route.document).toBeUndefined();
  });

  it.each(SEED_EVENTS)("routes %s to its channel, key and resource", (name) => {
    const { route } = expectEvent(ingest(name, SEED_EXAMPLES[name]));
    expect(route).toEqual(EXPECTED_ROUTES[name]);
    expect(topicName(route)).toBe(EXPECTED_TOPICS[name]);
  });

  it("names its channels after the exported constants and user rooms", () => {
    expect(MARKET_CHANNEL).toBe("market");
    expect(SYSTEM_ALERTS_CHANNEL).toBe("system_alerts");
    expect(USER_ROOMS.trading.channel).toBe("trading");
    expect(USER_ROOMS.orders.channel).toBe("orders");
    expect(USER_ROOMS.compliance.channel).toBe("compliance");
    expect(USER_ROOMS.trading.room("user-123")).toBe("trading-user-123");
    expect(USER_ROOMS.orders.room("user-123")).toBe("orders-user-123");
    expect(USER_ROOMS.compliance.room("user-123")).toBe("compliance-user-123");
  });

  it("carries the publisher's event id", () => {
    expect(expectEvent(ingest("market-update", SEED_EXAMPLES["market-update"], "tick-1")).id).toBe("tick-1");
  });

  it("routes a market update by its own commodity", () => {
    const { route } = expectEvent(ingest("market-update", withPayload("market-update", { commodity: "natural_gas" })));
    expect(route).toEqual({
      channel: "market",
      key: "natural_gas",
      resource: { type: "commodity", id: "natural_gas" },
    });
  });

  it.each([
    ["trade-update", "trading"],
    ["order-update", "orders"],
    ["compliance-alert", "compliance"],
  ] as const)("routes %s by the top-level userId to %s", (name, channel) => {
    const data = withTop(name, { userId: "user-9" });
    delete payloadOf(data).userId;
    const { route } = expectEvent(ingest(name, data));
    expect(route).toEqual({ channel, key: "user-9", resource: { type: "user", id: "user-9" } });
  });

  it("accepts a market update with only the required fields", () => {
    const data = withPayload("market-update", {
      change: undefined,
      changePercent: undefined,
      volume: undefined,
      bid: undefined,
      ask: undefined,
    });
    expect(expectEvent(ingest("market-update", data)).data).toEqual(data);
  });

  it("accepts a negative change and a zero volume", () => {
    expectEvent(ingest("market-update", withPayload("market-update", { change: -1.5, changePercent: -2, volume: 0 })));
  });

  it("accepts an order update without averagePrice and a system alert without affectedCommodities", () => {
    expectEvent(ingest("order-update", withPayload("order-update", { averagePrice: undefined })));
    expectEvent(ingest("system-alert", withPayload("system-alert", { affectedCommodities: undefined })));
  });

  it("accepts a compliance alert without details", () => {
    expectEvent(ingest("compliance-alert", withPayload("compliance-alert", { details: undefined })));
  });

  it("accepts timestamps with offsets and without milliseconds", () => {
    expectEvent(ingest("market-update", withTop("market-update", { timestamp: "2024-07-29T22:00:00Z" })));
    expectEvent(ingest("market-update", withTop("market-update", { timestamp: "2024-07-29T22:00:00.000+02:00" })));
  });
});

describe("refused QuantEnergx events name the path", () => {
  it.each<[string, SeedEvent, Json, string]>([
    ["a price as a string", "market-update", { price: "75.25" }, "data.payload.price"],
    ["a missing commodity", "market-update", { commodity: undefined }, "data.payload.commodity"],
    ["a missing price", "market-update", { price: undefined }, "data.payload.price"],
    ["a commodity with a space", "market-update", { commodity: "crude oil" }, "data.payload.commodity"],
    ["an empty commodity", "market-update", { commodity: "" }, "data.payload.commodity"],
    ["a 65-character commodity", "market-update", { commodity: "c".repeat(65) }, "data.payload.commodity"],
    ["a negative volume", "market-update", { volume: -1 }, "data.payload.volume"],
    ["a bid as a string", "market-update", { bid: "75.20" }, "data.payload.bid"],
    ["a payload timestamp that is not ISO 8601", "market-update", { timestamp: "yesterday" }, "data.payload.timestamp"],
    ["an epoch timestamp", "market-update", { timestamp: 1722290400000 }, "data.payload.timestamp"],
    ["an extra payload field", "market-update", { extra: 1 }, "data.payload.extra"],
    ['side "hold"', "trade-update", { side: "hold" }, "data.payload.side"],
    ['side "BUY"', "trade-update", { side: "BUY" }, "data.payload.side"],
    ["a quantity as a string", "trade-update", { quantity: "1000" }, "data.payload.quantity"],
    ["a negative quantity", "trade-update", { quantity: -1 }, "data.payload.quantity"],
    ["a missing orderId", "trade-update", { orderId: undefined }, "data.payload.orderId"],
    ["an empty trade id", "trade-update", { id: "" }, "data.payload.id"],
    ["an executionTime that is not ISO 8601", "trade-update", { executionTime: "now" }, "data.payload.executionTime"],
    ["a filledQuantity as a string", "order-update", { filledQuantity: "500" }, "data.payload.filledQuantity"],
    ["a negative remainingQuantity", "order-update", { remainingQuantity: -5 }, "data.payload.remainingQuantity"],
    ["an averagePrice of null", "order-update", { averagePrice: null }, "data.payload.averagePrice"],
    ["a missing status", "order-update", { status: undefined }, "data.payload.status"],
    ["a message as a number", "system-alert", { message: 42 }, "data.payload.message"],
    [
      "a message over MAX_TEXT_LENGTH",
      "system-alert",
      { message: "m".repeat(MAX_TEXT_LENGTH + 1) },
      "data.payload.message",
    ],
    [
      "affectedCommodities as a string",
      "system-alert",
      { affectedCommodities: "crude_oil" },
      "data.payload.affectedCommodities",
    ],
    [
      "a bad affected commodity",
      "system-alert",
      { affectedCommodities: ["crude oil"] },
      "data.payload.affectedCommodities.0",
    ],
    ["a missing severity", "system-alert", { severity: undefined }, "data.payload.severity"],
    ["a payload type other than COMPLIANCE_ALERT", "compliance-alert", { type: "SYSTEM_ALERT" }, "data.payload.type"],
    ["details as an array", "compliance-alert", { details: [1, 2] }, "data.payload.details"],
    ["details as a string", "compliance-alert", { details: "x" }, "data.payload.details"],
    [
      "details larger than MAX_TEXT_LENGTH",
      "compliance-alert",
      { details: { blob: "x".repeat(MAX_TEXT_LENGTH) } },
      "data.payload.details",
    ],
    ["a missing checkType", "compliance-alert", { checkType: undefined }, "data.payload.checkType"],
  ])("refuses %s", (_label, name, patch, path) => {
    expect(paths(expectRefusal(ingest(name, withPayload(name, patch))))).toContain(path);
  });

  it.each<[string, SeedEvent, Json, string]>([
    ["a wrong type literal on a market update", "market-update", { type: "TRADE_UPDATE" }, "data.type"],
    ["a lowercase type literal", "market-update", { type: "market_update" }, "data.type"],
    ["a wrong type literal on a trade update", "trade-update", { type: "ORDER_UPDATE" }, "data.type"],
    ["a wrong type literal on an order update", "order-update", { type: "TRADE_UPDATE" }, "data.type"],
    ["a wrong type literal on a system alert", "system-alert", { type: "COMPLIANCE_ALERT" }, "data.type"],
    ["COMPLIANCE_ALERT as the top-level type", "compliance-alert", { type: "COMPLIANCE_ALERT" }, "data.type"],
    ["a missing top-level userId", "trade-update", { userId: undefined }, "data.userId"],
    ["an empty top-level userId", "order-update", { userId: "" }, "data.userId"],
    ["a 129-character userId", "compliance-alert", { userId: "u".repeat(129) }, "data.userId"],
    ["a numeric userId", "trade-update", { userId: 123 }, "data.userId"],
    ["a missing top-level timestamp", "market-update", { timestamp: undefined }, "data.timestamp"],
    ["an extra top-level field on a market update", "market-update", { userId: "user-123" }, "data.userId"],
    ["an extra top-level field on a system alert", "system-alert", { userId: "user-123" }, "data.userId"],
    ["an extra top-level field on a trade update", "trade-update", { seq: 1 }, "data.seq"],
    ["a missing payload", "order-update", { payload: undefined }, "data.payload"],
    ["a payload that is a string", "market-update", { payload: "crude_oil" }, "data.payload"],
  ])("refuses %s", (_label, name, patch, path) => {
    expect(paths(expectRefusal(ingest(name, withTop(name, patch))))).toContain(path);
  });

  it.each(["trade-update", "order-update", "compliance-alert"] as const)(
    "refuses a %s whose payload.userId differs from userId",
    (name) => {
      const refusal = expectRefusal(ingest(name, withPayload(name, { userId: "user-456" })));
      expect(refusal.event).toBe(name);
      const issue = refusal.issues.find((candidate) => candidate.message.includes("payload.userId"));
      expect(issue, JSON.stringify(refusal.issues)).toBeDefined();
      expect(["data", "data.payload.userId"]).toContain(issue?.path);
    },
  );

  it("refuses data that is not an object", () => {
    for (const data of [null, "x", 1, true]) {
      for (const name of SEED_EVENTS) expect(paths(expectRefusal(ingest(name, data)))).toContain("data");
    }
  });

  it("refuses arrays as data or payload (each required field is missing)", () => {
    for (const name of SEED_EVENTS) {
      expect(paths(expectRefusal(ingest(name, [])))).toContain("data.type");
      expect(
        paths(expectRefusal(ingest(name, withTop(name, { payload: [] })))).some((path) =>
          path.startsWith("data.payload"),
        ),
      ).toBe(true);
    }
  });

  it("does not broadcast a private compliance alert posted as a system-alert", () => {
    const refusal = expectRefusal(ingest("system-alert", SEED_EXAMPLES["compliance-alert"]));
    expect(paths(refusal).some((path) => path.startsWith("data."))).toBe(true);
  });

  it("does not accept a system alert posted as a compliance-alert", () => {
    expectRefusal(ingest("compliance-alert", SEED_EXAMPLES["system-alert"]));
  });

  it("does not accept one event family's payload under another's name", () => {
    for (const posted of SEED_EVENTS) {
      for (const name of SEED_EVENTS) {
        if (name !== posted) expectRefusal(ingest(name, SEED_EXAMPLES[posted]));
      }
    }
  });

  it("refuses the Socket.IO event names in other spellings", () => {
    for (const event of ["market_update", "MARKET_UPDATE", "marketUpdate", "trade_update", "compliance_alert"]) {
      const refusal = expectRefusal(ingest(event, SEED_EXAMPLES["market-update"]));
      expect(paths(refusal)).toEqual(["event"]);
    }
  });
});

describe("client payload schemas", () => {
  describe("AuthenticateSchema", () => {
    it("accepts the seed's authenticate payload", () => {
      expect(v.parse(AuthenticateSchema, { userId: "user-123", token: "your-jwt-token" })).toEqual({
        userId: "user-123",
        token: "your-jwt-token",
      });
    });

    it("drops unknown fields", () => {
      expect(v.parse(AuthenticateSchema, { userId: "u", token: "t", extra: 1 })).toEqual({ userId: "u", token: "t" });
    });

    it.each<[string, unknown, string]>([
      ["a missing token", { userId: "user-123" }, "token"],
      ["an empty token", { userId: "user-123", token: "" }, "token"],
      ["a numeric token", { userId: "user-123", token: 1 }, "token"],
      ["a missing userId", { token: "t" }, "userId"],
      ["an empty userId", { userId: "", token: "t" }, "userId"],
      ["a 129-character userId", { userId: "u".repeat(129), token: "t" }, "userId"],
      ["a numeric userId", { userId: 123, token: "t" }, "userId"],
    ])("refuses %s", (_label, input, path) => {
      const result = v.safeParse(AuthenticateSchema, input);
      expect(result.success).toBe(false);
      expect(result.issues?.map((issue) => v.getDotPath(issue))).toContain(path);
    });

    it.each([[null], ["user-123"], [["user-123", "token"]], [undefined]])("refuses %j", (input) => {
      expect(v.safeParse(AuthenticateSchema, input).success).toBe(false);
    });
  });

  describe("CommodityListSchema", () => {
    it("accepts the seed's subscribe-market payload", () => {
      const commodities = ["crude_oil", "natural_gas", "heating_oil"];
      expect(v.parse(CommodityListSchema, commodities)).toEqual(commodities);
    });

    it("accepts one commodity and exactly MAX_COMMODITIES_PER_REQUEST", () => {
      expect(MAX_COMMODITIES_PER_REQUEST).toBe(50);
      expect(v.safeParse(CommodityListSchema, ["crude_oil"]).success).toBe(true);
      const fifty = Array.from({ length: 50 }, (_, i) => `c${i}`);
      expect(v.safeParse(CommodityListSchema, fifty).success).toBe(true);
    });

    it("refuses an empty list and more than 50", () => {
      expect(v.safeParse(CommodityListSchema, []).success).toBe(false);
      const fiftyOne = Array.from({ length: 51 }, (_, i) => `c${i}`);
      expect(v.safeParse(CommodityListSchema, fiftyOne).success).toBe(false);
    });

    it.each(["crude_oil", "WTI", "brent.crude-1", "0", "a".repeat(64), "Natural_Gas.Henry-Hub"])(
      "accepts the commodity %j",
      (commodity) => {
        expect(v.safeParse(CommodityListSchema, [commodity]).success).toBe(true);
      },
    );

    it.each([
      "",
      "crude oil",
      "_crude",
      "-crude",
      ".crude",
      "a".repeat(65),
      "crude:oil",
      "crude/oil",
      "crude\noil",
      "crude_oil\n",
      "pétrole",
      "*",
    ])("refuses the commodity %j", (commodity) => {
      const result = v.safeParse(CommodityListSchema, ["crude_oil", commodity]);
      expect(result.success).toBe(false);
      expect(result.issues?.map((issue) => v.getDotPath(issue))).toContain("1");
    });

    it.each([["crude_oil"], [null], [{ 0: "crude_oil" }], [[1]], [[null]], [[["crude_oil"]]]])(
      "refuses %j (not a list of strings)",
      (input) => {
        expect(v.safeParse(CommodityListSchema, input).success).toBe(false);
      },
    );
  });

  describe("UserIdSchema", () => {
    it.each(["user-123", "u", "u".repeat(128), "auth0|5f7c8ec7c33c6c004bbafe82"])("accepts %j", (userId) => {
      expect(v.parse(UserIdSchema, userId)).toBe(userId);
    });

    it.each([[""], ["u".repeat(129)], [123], [null], [undefined], [["user-123"]], [{ userId: "user-123" }]])(
      "refuses %j",
      (userId) => {
        expect(v.safeParse(UserIdSchema, userId).success).toBe(false);
      },
    );
  });
});
