/**
 * The schemas of the frames the hub composes (replies.ts): they follow the channel table, accept
 * the protocol document's examples and what the pure encoders produce, and refuse what the hub
 * never sends. test/integration/reply-schemas.test.ts checks them against the real wire.
 */
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { CHANNELS, type ChannelName } from "../../../../src/protocol/equihome/channels";
import {
  decodeClientFrame,
  encodeEditAck,
  encodeError,
  encodeReply,
  encodeServerEvent,
  isDecodeFailure,
  parseSubscription,
  subscriptionEcho,
} from "../../../../src/protocol/equihome/codec";
import { checkValue, parsePath, parseResourceRef } from "../../../../src/protocol/equihome/editing";
import {
  ChannelEcho,
  DeliveredResourceUpdated,
  ErrorData,
  REPLIES,
  type ReplyEvent,
  Subscribed,
  Unsubscribed,
} from "../../../../src/protocol/equihome/replies";
import { ResourceUpdated } from "../../../../src/protocol/equihome/server-events";
import { ERROR_CODES, type ErrorCode, ISSUE_CODES, ProtocolError } from "../../../../src/protocol/errors";

const CHANNEL_NAMES = Object.keys(CHANNELS) as ChannelName[];

const issuesOf = (schema: v.GenericSchema, data: unknown) => {
  const result = v.safeParse(schema, data);
  return result.success ? [] : result.issues.map((issue) => `${v.getDotPath(issue) ?? ""}: ${issue.message}`);
};

/** The error a pure parser throws for `run`. */
function thrown(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error("expected a ProtocolError");
}

describe("channel echoes follow the channel table", () => {
  it("has one variant per channel, with exactly the channel's key field", () => {
    const variants = ChannelEcho.options.map((option) => Object.keys(option.entries).sort());
    expect(variants).toEqual(
      CHANNEL_NAMES.map((channel) => {
        const { keyField } = CHANNELS[channel];
        return (keyField === null ? ["channel"] : ["channel", keyField]).sort();
      }),
    );
    expect(ChannelEcho.options.map((option) => option.entries.channel.literal)).toEqual(CHANNEL_NAMES);
  });

  it("accepts subscriptionEcho of every channel, in subscribed and unsubscribed", () => {
    for (const channel of CHANNEL_NAMES) {
      const key = CHANNELS[channel].keyField === null ? null : "key_1";
      const echo = subscriptionEcho({ channel, key });
      expect(issuesOf(ChannelEcho, echo), channel).toEqual([]);
      expect(issuesOf(Subscribed, { ...echo, seq: 0 }), channel).toEqual([]);
      expect(issuesOf(Unsubscribed, { ...echo, reason: "authorization_error" }), channel).toEqual([]);
    }
  });

  it("refuses a missing or foreign key field, zones outside traffic lights, and unknown fields", () => {
    const refused: [v.GenericSchema, unknown][] = [
      [Subscribed, { channel: "simulation_updates", seq: 0 }],
      [Subscribed, { channel: "fund_updates", simulation_id: "s", seq: 0 }],
      [Subscribed, { channel: "system_notifications", fund_id: "f", seq: 0 }],
      [Subscribed, { channel: "simulation_updates", simulation_id: "s", seq: 0, zones: ["red"] }],
      [Subscribed, { channel: "traffic_light_updates", seq: 0, zones: ["Red"] }],
      [Subscribed, { channel: "traffic_light_updates", seq: -1 }],
      [Subscribed, { channel: "market", seq: 0 }],
      [Subscribed, { channel: "system_notifications", seq: 0, recovered: "yes" }],
      [Unsubscribed, { channel: "system_notifications", reason: "expired" }],
      [Unsubscribed, { channel: "system_notifications", seq: 1 }],
    ];
    for (const [schema, data] of refused) expect(issuesOf(schema, data), JSON.stringify(data)).not.toEqual([]);
  });
});

describe("the protocol document's examples parse", () => {
  // docs/PROTOCOL.md, "Server events" and the sections on subscriptions, editing and errors.
  const examples: [ReplyEvent, unknown][] = [
    ["subscribed", { channel: "simulation_updates", simulation_id: "simulation_789", seq: 2 }],
    ["subscribed", { channel: "fund_updates", fund_id: "fund_123", seq: 0 }],
    ["subscribed", { channel: "system_notifications", seq: 7 }],
    ["subscribed", { channel: "traffic_light_updates", seq: 12, zones: ["green", "red"], recovered: true }],
    ["subscribed", { channel: "simulation_updates", simulation_id: "simulation_789", seq: 10201, recovered: false }],
    ["unsubscribed", { channel: "simulation_updates", simulation_id: "simulation_789" }],
    ["unsubscribed", { channel: "simulation_updates", simulation_id: "sim_1", reason: "authorization_error" }],
    ["pong", { timestamp: 1672531200100 }],
    ["token_refreshed", { expires_at: "2025-01-01T13:00:00.000Z" }],
    [
      "editing_started",
      {
        resource_type: "fund",
        resource_id: "fund_123",
        document: { fee_structure: { management_fee_rate: 0.02 } },
        editors: [
          { user_id: "user_42", email: "ann@example.com" },
          { user_id: "user_7", email: "bo@example.com" },
        ],
      },
    ],
    ["editing_ended", { resource_type: "fund", resource_id: "fund_123" }],
    [
      "editors_updated",
      { resource_type: "fund", resource_id: "fund_123", editors: [{ user_id: "user_42", email: "ann@example.com" }] },
    ],
    [
      "error",
      {
        code: "invalid_subscription",
        message: "Invalid subscription parameters",
        details: { channel: "simulation_updates", issue: "missing_field", field: "simulation_id", hint: "Missing x" },
      },
    ],
    ["error", { code: "authentication_error", message: "Token expired", details: { reason: "token_expired" } }],
    ["error", { code: "server_error", message: "Internal server error" }],
  ];

  it.each(examples)("%s %j", (event, data) => {
    expect(issuesOf(REPLIES[event], data)).toEqual([]);
  });

  it("a Yjs deletion's resource_updated parses as delivered, and ingest still refuses it", () => {
    const deletion = {
      resource_type: "fund",
      resource_id: "fund_123",
      path: "fee_structure.carried_interest",
      value: null,
      updated_by: "yuki@example.com",
      deleted: true,
    };
    expect(issuesOf(DeliveredResourceUpdated, deletion)).toEqual([]);
    expect(issuesOf(ResourceUpdated, deletion)).not.toEqual([]);
    const { deleted: _, ...edit } = deletion;
    expect(issuesOf(ResourceUpdated, edit)).toEqual([]);
    expect(issuesOf(DeliveredResourceUpdated, edit)).toEqual([]);
    // A Yjs client's key is not held to the path grammar.
    expect(issuesOf(DeliveredResourceUpdated, { ...edit, path: "Fee.Structure" })).toEqual([]);
    expect(issuesOf(DeliveredResourceUpdated, { ...deletion, deleted: false })).not.toEqual([]);
    expect(issuesOf(DeliveredResourceUpdated, { ...edit, resource_type: "simulation" })).not.toEqual([]);
  });
});

describe("errors", () => {
  it("accepts every error code and every issue code, and nothing else", () => {
    for (const code of Object.keys(ERROR_CODES)) expect(issuesOf(ErrorData, { code, message: "m" })).toEqual([]);
    for (const issue of Object.keys(ISSUE_CODES)) {
      expect(issuesOf(ErrorData, { code: "invalid_message", message: "m", details: { issue } })).toEqual([]);
    }
    expect(issuesOf(ErrorData, { code: "teapot", message: "m" })).not.toEqual([]);
    expect(issuesOf(ErrorData, { code: "invalid_message", message: "m", details: { issue: "Bad" } })).not.toEqual([]);
    expect(issuesOf(ErrorData, { code: "invalid_message" })).not.toEqual([]);
    expect(issuesOf(ErrorData, { code: "invalid_message", message: "m", hint: "h" })).not.toEqual([]);
  });

  it("accepts the errors the protocol's parsers produce", () => {
    const errors: ProtocolError[] = [
      thrown(() => parseSubscription({}, true)),
      thrown(() => parseSubscription({ channel: "nope" }, true)),
      thrown(() => parseSubscription({ channel: "simulation_updates", simulation_id: "" }, true)),
      thrown(() => parseSubscription({ channel: "traffic_light_updates", zones: [] }, true)),
      thrown(() => parseSubscription({ channel: "traffic_light_updates", since_seq: -1 }, true)),
      thrown(() => parseResourceRef({})),
      thrown(() => parseResourceRef({ resource_type: "spaceship" })),
      thrown(() => parseResourceRef({ resource_type: "fund", resource_id: "" })),
      thrown(() => parsePath("a..b")),
      thrown(() => parsePath("a.__proto__")),
      thrown(() => checkValue(undefined)),
      thrown(() => checkValue(Number.POSITIVE_INFINITY)),
      thrown(() => checkValue({ ["k".repeat(300)]: 1 })),
    ];
    for (const frame of ["not json", "[1]", '{"event":5,"id":"m"}', "x".repeat(70_000)]) {
      const decoded = decodeClientFrame(frame);
      if (!isDecodeFailure(decoded)) throw new Error(`${frame} decoded`);
      errors.push(decoded.error);
    }
    for (const error of errors) {
      const frame = JSON.parse(encodeError(error, "m1")) as { event: string; data: unknown };
      expect(frame.event).toBe("error");
      expect(issuesOf(ErrorData, frame.data), JSON.stringify(frame.data)).toEqual([]);
    }
  });
});

describe("encodeReply and encodeEditAck", () => {
  it("give the bytes encodeServerEvent gives", () => {
    const data = { channel: "fund_updates", fund_id: "f", seq: 3, recovered: false } as const;
    expect(encodeReply("subscribed", data, "m")).toBe(encodeServerEvent({ event: "subscribed", data, id: "m" }));
    expect(encodeReply("pong", { timestamp: 1 })).toBe('{"event":"pong","data":{"timestamp":1}}');
    const edit = { resource_type: "fund", resource_id: "f", path: "a", value: 1, updated_by: "u" } as const;
    expect(encodeEditAck(edit, 7, 12)).toBe(
      encodeServerEvent({ event: "resource_updated", data: edit, id: 7, seq: 12 }),
    );
    expect(encodeEditAck(edit, undefined, 12)).toBe(
      '{"event":"resource_updated","data":{"resource_type":"fund","resource_id":"f","path":"a","value":1,"updated_by":"u"},"seq":12}',
    );
  });

  it("encodeError keeps code, message, details and id as they were", () => {
    const code: ErrorCode = "invalid_message";
    const error = new ProtocolError(code, "Invalid path", { details: { issue: "invalid_path", segment: "A" } });
    expect(encodeError(error, 5)).toBe(
      '{"event":"error","data":{"code":"invalid_message","message":"Invalid path","details":{"issue":"invalid_path","segment":"A"}},"id":5}',
    );
  });
});
