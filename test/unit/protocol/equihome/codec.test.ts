import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  type ClientMessage,
  type DecodeFailure,
  decodeClientFrame,
  encodeError,
  encodeServerEvent,
  encodeTopicEvent,
  isDecodeFailure,
  parseSubscription,
  subscriptionEcho,
} from "../../../../src/protocol/equihome/codec";
import { ProtocolError } from "../../../../src/protocol/errors";
import {
  exceedsBytes,
  MAX_FRAME_BYTES,
  MAX_ID_LENGTH,
  MAX_MESSAGE_ID_LENGTH,
  MAX_ZONES,
} from "../../../../src/protocol/limits";
import { IdSchema } from "../../../../src/protocol/schemas";

function expectFailure(result: ClientMessage | DecodeFailure): DecodeFailure {
  if (!isDecodeFailure(result)) throw new Error(`expected a decode failure, got ${JSON.stringify(result)}`);
  expect(result.error).toBeInstanceOf(ProtocolError);
  expect(result.error.code).toBe("invalid_message");
  return result;
}

function expectMessage(result: ClientMessage | DecodeFailure): ClientMessage {
  if (isDecodeFailure(result)) throw new Error(`expected a message, got ${result.error.code}`);
  return result;
}

/** The `path` of each issue in a failure's `details.issues`. */
function issuePaths(failure: DecodeFailure): string[] {
  const issues = failure.error.details?.issues;
  if (!Array.isArray(issues)) throw new Error("expected details.issues to be a list");
  return issues.map((issue: { path: string }) => issue.path);
}

/** A valid JSON frame `{"event":"ping","data":{"pad":"<fill…>"}}` of exactly `bytes` UTF-8 bytes. */
function frameOfBytes(bytes: number, fill: string): string {
  const head = '{"event":"ping","data":{"pad":"';
  const tail = '"}}';
  const fillBytes = new TextEncoder().encode(fill).byteLength;
  const room = bytes - head.length - tail.length;
  const count = Math.floor(room / fillBytes);
  const frame = head + fill.repeat(count) + "x".repeat(room - count * fillBytes) + tail;
  expect(new TextEncoder().encode(frame).byteLength).toBe(bytes);
  return frame;
}

/** Catches what `fn` throws as a ProtocolError, failing the test when it returns or throws something else. */
function thrown(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error("expected a ProtocolError to be thrown");
}

describe("decodeClientFrame: accepted frames", () => {
  it("decodes the seed's subscribe message with its string id", () => {
    const message = expectMessage(
      decodeClientFrame(
        JSON.stringify({
          event: "subscribe",
          data: { channel: "simulation_updates", simulation_id: "simulation_789" },
          id: "msg_123",
        }),
      ),
    );
    expect(message).toEqual({
      event: "subscribe",
      data: { channel: "simulation_updates", simulation_id: "simulation_789" },
      id: "msg_123",
    });
  });

  it("accepts an integer id, including 0", () => {
    expect(expectMessage(decodeClientFrame('{"event":"ping","id":42}')).id).toBe(42);
    expect(expectMessage(decodeClientFrame('{"event":"ping","id":0}')).id).toBe(0);
  });

  it("defaults missing data to an empty object and leaves the id undefined", () => {
    expect(expectMessage(decodeClientFrame('{"event":"ping"}'))).toEqual({ event: "ping", data: {}, id: undefined });
  });

  it("accepts an id of exactly MAX_MESSAGE_ID_LENGTH characters", () => {
    const id = "i".repeat(MAX_MESSAGE_ID_LENGTH);
    expect(expectMessage(decodeClientFrame(JSON.stringify({ event: "ping", id }))).id).toBe(id);
  });

  it("accepts an event name of 64 characters", () => {
    const event = "e".repeat(64);
    expect(expectMessage(decodeClientFrame(JSON.stringify({ event }))).event).toBe(event);
  });

  it("accepts a frame of exactly MAX_FRAME_BYTES bytes", () => {
    const message = expectMessage(decodeClientFrame(frameOfBytes(MAX_FRAME_BYTES, "a")));
    expect(message.event).toBe("ping");
  });

  it("accepts a multi-byte frame of exactly MAX_FRAME_BYTES bytes", () => {
    expectMessage(decodeClientFrame(frameOfBytes(MAX_FRAME_BYTES, "€")));
  });
});

describe("decodeClientFrame: refused frames", () => {
  it("refuses a binary frame", () => {
    const bytes = new TextEncoder().encode('{"event":"ping"}');
    const buffer = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(buffer).set(bytes);
    const failure = expectFailure(decodeClientFrame(buffer));
    expect(failure.id).toBeUndefined();
    expect(failure.error.details?.issue).not.toBe("frame_too_large");
  });

  it("refuses a frame one byte over MAX_FRAME_BYTES with issue frame_too_large and the limit", () => {
    const failure = expectFailure(decodeClientFrame(frameOfBytes(MAX_FRAME_BYTES + 1, "a")));
    expect(failure.error.details).toEqual({ issue: "frame_too_large", limit: MAX_FRAME_BYTES });
    expect(failure.id).toBeUndefined();
  });

  it("measures the limit in UTF-8 bytes: 2-byte characters under the limit in length but over it in bytes", () => {
    const frame = frameOfBytes(MAX_FRAME_BYTES + 1, "é");
    expect(frame.length).toBeLessThan(MAX_FRAME_BYTES);
    expect(expectFailure(decodeClientFrame(frame)).error.details?.issue).toBe("frame_too_large");
  });

  it("measures the limit in UTF-8 bytes: 3-byte characters one byte over", () => {
    const frame = frameOfBytes(MAX_FRAME_BYTES + 1, "€");
    expect(frame.length).toBeLessThan(MAX_FRAME_BYTES / 2);
    expect(expectFailure(decodeClientFrame(frame)).error.details?.issue).toBe("frame_too_large");
  });

  it("measures the limit in UTF-8 bytes: 4-byte emoji one byte over", () => {
    const frame = frameOfBytes(MAX_FRAME_BYTES + 1, "😀");
    expect(expectFailure(decodeClientFrame(frame)).error.details?.issue).toBe("frame_too_large");
  });

  it("refuses a too-large frame even when it carries a readable id (it is not parsed)", () => {
    const frame = `{"id":"msg_1",${frameOfBytes(MAX_FRAME_BYTES, "a").slice(1)}`;
    const failure = expectFailure(decodeClientFrame(frame));
    expect(failure.error.details?.issue).toBe("frame_too_large");
    expect(failure.id).toBeUndefined();
  });

  it.each([
    ["truncated JSON", '{"event":"ping"'],
    ["plain text", "hello"],
    ["an empty frame", ""],
    ["single quotes", "{'event':'ping'}"],
  ])("refuses %s as not JSON, with no id", (_label, frame) => {
    const failure = expectFailure(decodeClientFrame(frame));
    expect(failure.id).toBeUndefined();
    expect(failure.error.details).toBeUndefined();
  });

  it.each([
    ["an array", '[{"event":"ping"}]'],
    ["a string", '"ping"'],
    ["a number", "42"],
    ["null", "null"],
    ["true", "true"],
  ])("refuses JSON that is %s rather than an object", (_label, frame) => {
    const failure = expectFailure(decodeClientFrame(frame));
    expect(failure.id).toBeUndefined();
    expect(issuePaths(failure).length).toBeGreaterThan(0);
  });

  it("refuses a message without event, naming the path and keeping the readable id", () => {
    const failure = expectFailure(decodeClientFrame('{"data":{},"id":"msg_9"}'));
    expect(failure.id).toBe("msg_9");
    expect(issuePaths(failure)).toEqual(["event"]);
  });

  it.each([
    ["a number", 5],
    ["an empty string", ""],
    ["null", null],
    ["65 characters", "e".repeat(65)],
    ["an object", { name: "ping" }],
  ])("refuses an event that is %s, keeping the readable integer id", (_label, event) => {
    const failure = expectFailure(decodeClientFrame(JSON.stringify({ event, id: 7 })));
    expect(failure.id).toBe(7);
    expect(issuePaths(failure)).toEqual(["event"]);
  });

  it.each([
    ["an array", []],
    ["a string", "x"],
    ["null", null],
    ["a number", 1],
  ])("refuses data that is %s", (_label, data) => {
    const failure = expectFailure(decodeClientFrame(JSON.stringify({ event: "ping", data, id: "m" })));
    expect(failure.id).toBe("m");
    expect(issuePaths(failure)).toEqual(["data"]);
  });

  it.each([
    ["a boolean", true],
    ["null", null],
    ["an object", { n: 1 }],
    ["an array", ["m"]],
    ["a fractional number", 1.5],
    ["an unsafe integer", 2 ** 53],
    ["an empty string", ""],
    ["a string over MAX_MESSAGE_ID_LENGTH", "i".repeat(MAX_MESSAGE_ID_LENGTH + 1)],
  ])("refuses an id that is %s, and replies without an id it cannot read", (_label, id) => {
    const failure = expectFailure(decodeClientFrame(JSON.stringify({ event: "ping", id })));
    expect(failure.id).toBeUndefined();
    expect(issuePaths(failure)).toEqual(["id"]);
  });

  it("reports every invalid field when several are wrong", () => {
    const failure = expectFailure(decodeClientFrame('{"event":1,"data":[],"id":"ok"}'));
    expect(failure.id).toBe("ok");
    expect(issuePaths(failure).sort()).toEqual(["data", "event"]);
  });

  it("isDecodeFailure tells failures from messages", () => {
    expect(isDecodeFailure(decodeClientFrame("nope"))).toBe(true);
    expect(isDecodeFailure(decodeClientFrame('{"event":"ping"}'))).toBe(false);
  });
});

describe("exceedsBytes", () => {
  it("is false at the limit and true one byte over, for ASCII", () => {
    expect(exceedsBytes("a".repeat(10), 10)).toBe(false);
    expect(exceedsBytes("a".repeat(11), 10)).toBe(true);
  });

  it("counts UTF-8 bytes of 2-, 3- and 4-byte characters", () => {
    expect(exceedsBytes("é".repeat(5), 10)).toBe(false);
    expect(exceedsBytes("é".repeat(5), 9)).toBe(true);
    expect(exceedsBytes("€".repeat(4), 12)).toBe(false);
    expect(exceedsBytes("€".repeat(4), 11)).toBe(true);
    expect(exceedsBytes("😀".repeat(3), 12)).toBe(false);
    expect(exceedsBytes("😀".repeat(3), 11)).toBe(true);
  });

  it("counts a lone surrogate as the 3 bytes of its replacement character", () => {
    expect(exceedsBytes("\ud800", 3)).toBe(false);
    expect(exceedsBytes("\ud800", 2)).toBe(true);
  });

  it("is false for the empty string", () => {
    expect(exceedsBytes("", 0)).toBe(false);
  });
});

const MISSING_FUND_ID = { channel: "fund_updates", issue: "missing_field", field: "fund_id", hint: "Missing fund_id" };

describe("parseSubscription: channels and keys", () => {
  it.each([
    ["simulation_updates", "simulation_id", "simulation_789"],
    ["gp_entity_updates", "simulation_id", "simulation_789"],
    ["portfolio_updates", "portfolio_id", "portfolio_456"],
    ["fund_updates", "fund_id", "fund_123"],
  ])("%s is keyed by %s", (channel, keyField, key) => {
    expect(parseSubscription({ channel, [keyField]: key }, true)).toEqual({
      channel,
      key,
      zones: null,
      sinceSeq: null,
    });
  });

  it.each([["system_notifications"], ["traffic_light_updates"]])("%s has no key", (channel) => {
    expect(parseSubscription({ channel }, true)).toEqual({ channel, key: null, zones: null, sinceSeq: null });
  });

  it("ignores another channel's key field on a keyless channel", () => {
    expect(parseSubscription({ channel: "system_notifications", simulation_id: "s" }, true).key).toBeNull();
  });

  it.each([
    ["simulation_updates", "simulation_id"],
    ["gp_entity_updates", "simulation_id"],
    ["portfolio_updates", "portfolio_id"],
    ["fund_updates", "fund_id"],
  ])("%s without %s is refused like the seed's example, the issue as a code", (channel, keyField) => {
    for (const withOptions of [true, false]) {
      const error = thrown(() => parseSubscription({ channel }, withOptions));
      expect(error.code).toBe("invalid_subscription");
      expect(error.message).toBe("Invalid subscription parameters");
      expect(error.details).toEqual({ channel, issue: "missing_field", field: keyField, hint: `Missing ${keyField}` });
    }
  });

  it("treats a null key as missing", () => {
    const error = thrown(() => parseSubscription({ channel: "fund_updates", fund_id: null }, true));
    expect(error.details).toEqual(MISSING_FUND_ID);
  });

  it("does not accept another channel's key field", () => {
    const error = thrown(() => parseSubscription({ channel: "fund_updates", simulation_id: "s" }, true));
    expect(error.details).toEqual(MISSING_FUND_ID);
  });

  it.each([
    ["an empty string", ""],
    ["a number", 789],
    ["an array", ["simulation_789"]],
    ["over MAX_ID_LENGTH characters", "s".repeat(MAX_ID_LENGTH + 1)],
    ["a control character", "sim\n789"],
    ["a NUL character", "sim\u0000"],
    ["a DEL character", "sim\u007f"],
  ])("refuses a key that is %s as an invalid simulation_id", (_label, key) => {
    const error = thrown(() => parseSubscription({ channel: "simulation_updates", simulation_id: key }, true));
    expect(error.code).toBe("invalid_subscription");
    expect(error.details?.channel).toBe("simulation_updates");
    expect(error.details?.issue).toBe("invalid_field");
    expect(error.details?.field).toBe("simulation_id");
    expect(error.details?.hint).toMatch(/^Invalid simulation_id: /);
  });

  it("accepts a key of exactly MAX_ID_LENGTH characters and non-ASCII keys", () => {
    const long = "s".repeat(MAX_ID_LENGTH);
    expect(parseSubscription({ channel: "simulation_updates", simulation_id: long }, true).key).toBe(long);
    expect(parseSubscription({ channel: "fund_updates", fund_id: "fonds_é_1" }, true).key).toBe("fonds_é_1");
  });

  it("refuses a missing channel without naming one", () => {
    for (const data of [{}, { channel: 5 }, { channel: null }]) {
      const error = thrown(() => parseSubscription(data, true));
      expect(error.code).toBe("invalid_subscription");
      expect(error.details).toEqual({ issue: "missing_field", field: "channel", hint: "Missing channel" });
    }
  });

  it.each([["trade_updates"], ["Simulation_updates"], [""], ["__proto__"], ["toString"], ["constructor"]])(
    "refuses the unknown channel %j and lists the six channels",
    (channel) => {
      const error = thrown(() => parseSubscription({ channel }, true));
      expect(error.code).toBe("invalid_subscription");
      expect(error.details).toEqual({
        channel,
        issue: "unknown_channel",
        hint: "Unknown channel",
        channels: [
          "simulation_updates",
          "gp_entity_updates",
          "portfolio_updates",
          "fund_updates",
          "system_notifications",
          "traffic_light_updates",
        ],
      });
    },
  );
});

describe("parseSubscription: zones", () => {
  it("accepts the seed's traffic-light zones", () => {
    expect(parseSubscription({ channel: "traffic_light_updates", zones: ["green", "orange", "red"] }, true)).toEqual({
      channel: "traffic_light_updates",
      key: null,
      zones: ["green", "orange", "red"],
      sinceSeq: null,
    });
  });

  it("deduplicates and sorts zones", () => {
    const { zones } = parseSubscription({ channel: "traffic_light_updates", zones: ["red", "green", "red"] }, true);
    expect(zones).toEqual(["green", "red"]);
  });

  it.each([
    ["simulation_updates", { simulation_id: "s" }],
    ["gp_entity_updates", { simulation_id: "s" }],
    ["portfolio_updates", { portfolio_id: "p" }],
    ["fund_updates", { fund_id: "f" }],
    ["system_notifications", {}],
  ])("refuses zones on %s", (channel, keys) => {
    const error = thrown(() => parseSubscription({ channel, ...keys, zones: ["green"] }, true));
    expect(error.code).toBe("invalid_subscription");
    expect(error.details).toEqual({
      channel,
      issue: "invalid_field",
      field: "zones",
      hint: "zones applies to traffic_light_updates only",
    });
  });

  it.each([
    ["an empty list", []],
    ["not a list", "green"],
    ["null", null],
    ["a non-string zone", [1]],
    ["an uppercase zone", ["Green"]],
    ["a zone with a space", ["dark green"]],
    ["a zone over 32 characters", ["z".repeat(33)]],
    [`more than MAX_ZONES (${MAX_ZONES}) zones`, Array.from({ length: MAX_ZONES + 1 }, (_, i) => `z${i}`)],
  ])("refuses zones that are %s", (_label, zones) => {
    const error = thrown(() => parseSubscription({ channel: "traffic_light_updates", zones }, true));
    expect(error.code).toBe("invalid_subscription");
    expect(error.details?.channel).toBe("traffic_light_updates");
    expect(error.details?.issue).toBe("invalid_field");
    expect(error.details?.field).toBe("zones");
    expect(error.details?.hint).toMatch(/^Invalid zones: /);
  });

  it("accepts exactly MAX_ZONES zones", () => {
    const zones = Array.from({ length: MAX_ZONES }, (_, i) => `z${String(i).padStart(2, "0")}`);
    expect(parseSubscription({ channel: "traffic_light_updates", zones }, true).zones).toEqual(zones);
  });

  it("ignores zones when parsing without options (unsubscribe)", () => {
    expect(parseSubscription({ channel: "traffic_light_updates", zones: ["green"] }, false).zones).toBeNull();
    expect(parseSubscription({ channel: "fund_updates", fund_id: "f", zones: "bad" }, false).zones).toBeNull();
  });
});

describe("parseSubscription: since_seq", () => {
  it.each([[0], [1], [1000], [Number.MAX_SAFE_INTEGER]])("accepts since_seq %d", (sinceSeq) => {
    expect(
      parseSubscription({ channel: "simulation_updates", simulation_id: "s", since_seq: sinceSeq }, true).sinceSeq,
    ).toBe(sinceSeq);
  });

  it.each([
    ["negative", -1],
    ["fractional", 1.5],
    ["a string", "3"],
    ["null", null],
    ["unsafe", 2 ** 53],
    ["a boolean", true],
  ])("refuses since_seq that is %s", (_label, sinceSeq) => {
    const error = thrown(() =>
      parseSubscription({ channel: "simulation_updates", simulation_id: "s", since_seq: sinceSeq }, true),
    );
    expect(error.code).toBe("invalid_subscription");
    expect(error.details).toEqual({
      channel: "simulation_updates",
      issue: "invalid_field",
      field: "since_seq",
      hint: "since_seq must be a non-negative integer",
    });
  });

  it("works on keyless channels too", () => {
    expect(parseSubscription({ channel: "system_notifications", since_seq: 4 }, true).sinceSeq).toBe(4);
  });

  it("ignores since_seq when parsing without options (unsubscribe)", () => {
    expect(
      parseSubscription({ channel: "simulation_updates", simulation_id: "s", since_seq: -5 }, false).sinceSeq,
    ).toBeNull();
  });
});

describe("subscriptionEcho", () => {
  it("echoes the channel and its key field, like the seed's subscribed reply", () => {
    expect(subscriptionEcho({ channel: "simulation_updates", key: "simulation_789" })).toEqual({
      channel: "simulation_updates",
      simulation_id: "simulation_789",
    });
    expect(subscriptionEcho({ channel: "gp_entity_updates", key: "s" })).toEqual({
      channel: "gp_entity_updates",
      simulation_id: "s",
    });
    expect(subscriptionEcho({ channel: "portfolio_updates", key: "p" })).toEqual({
      channel: "portfolio_updates",
      portfolio_id: "p",
    });
    expect(subscriptionEcho({ channel: "fund_updates", key: "f" })).toEqual({ channel: "fund_updates", fund_id: "f" });
  });

  it("echoes only the channel of a keyless channel", () => {
    expect(subscriptionEcho({ channel: "system_notifications", key: null })).toEqual({
      channel: "system_notifications",
    });
    expect(subscriptionEcho({ channel: "traffic_light_updates", key: null })).toEqual({
      channel: "traffic_light_updates",
    });
  });

  it("round-trips what parseSubscription read", () => {
    const data = { channel: "fund_updates", fund_id: "fund_123" };
    expect(subscriptionEcho(parseSubscription(data, false))).toEqual(data);
  });
});

describe("IdSchema", () => {
  it("is exported for event schemas and refuses control characters", () => {
    expect(v.safeParse(IdSchema, "simulation_789").success).toBe(true);
    expect(v.safeParse(IdSchema, "a\tb").success).toBe(false);
  });
});

describe("encodeServerEvent", () => {
  it("encodes event and data, leaving out an undefined id and seq", () => {
    const text = encodeServerEvent({ event: "pong", data: { timestamp: 1672531200100 } });
    expect(JSON.parse(text)).toEqual({ event: "pong", data: { timestamp: 1672531200100 } });
    expect(text).not.toContain('"id"');
    expect(text).not.toContain('"seq"');
  });

  it("carries the id and seq when given, including the falsy 0", () => {
    expect(JSON.parse(encodeServerEvent({ event: "pong", data: {}, id: 0, seq: 0 }))).toEqual({
      event: "pong",
      data: {},
      id: 0,
      seq: 0,
    });
    expect(JSON.parse(encodeServerEvent({ event: "e", data: null, id: "msg_128", seq: 7 }))).toEqual({
      event: "e",
      data: null,
      id: "msg_128",
      seq: 7,
    });
  });

  it("writes the fields in the order event, data, id, seq", () => {
    expect(encodeServerEvent({ seq: 3, id: "m", data: 1, event: "x" })).toBe('{"event":"x","data":1,"id":"m","seq":3}');
  });
});

describe("encodeError", () => {
  it("encodes the seed's error format with code, message, details and id", () => {
    const error = new ProtocolError("invalid_subscription", "Invalid subscription parameters", {
      details: { channel: "simulation_updates", issue: "missing_field", field: "simulation_id" },
    });
    expect(JSON.parse(encodeError(error, "msg_123"))).toEqual({
      event: "error",
      data: {
        code: "invalid_subscription",
        message: "Invalid subscription parameters",
        details: { channel: "simulation_updates", issue: "missing_field", field: "simulation_id" },
      },
      id: "msg_123",
    });
  });

  it("leaves out details and id when there are none", () => {
    const parsed: unknown = JSON.parse(encodeError(new ProtocolError("server_error", "Internal server error")));
    expect(parsed).toEqual({ event: "error", data: { code: "server_error", message: "Internal server error" } });
  });

  it("replies with the id recovered from a refused frame", () => {
    const failure = expectFailure(decodeClientFrame('{"event":"","id":"msg_5"}'));
    expect(JSON.parse(encodeError(failure.error, failure.id))).toMatchObject({
      event: "error",
      id: "msg_5",
      data: { code: "invalid_message" },
    });
  });
});

/** Data of every JSON shape an event can carry, including what JSON.stringify escapes or reorders. */
const EVENT_DATA: unknown[] = [
  { simulation_id: "sim_1", progress: 42.5, status: "running" },
  { nested: { a: [1, 2, { b: null }], "2": "integer-like keys come first", "1": true } },
  { text: 'quotes " and \\ backslashes, \n newlines, \u0007 bells, é, 😀, \u2028' },
  { big: 1e21, small: 5e-7, negative: -0, max: Number.MAX_SAFE_INTEGER },
  { __proto__: null, constructor: "plain data" },
  [],
  "a string",
  17,
  null,
];

describe("encodeTopicEvent", () => {
  it("is byte for byte the frame encodeServerEvent gives, with and without ids", () => {
    for (const data of EVENT_DATA) {
      const event = { seq: 7, event: "simulation_progress", data: JSON.stringify(data) };
      expect(encodeTopicEvent(event)).toBe(encodeServerEvent({ event: "simulation_progress", data, seq: 7 }));
      expect(encodeTopicEvent({ ...event, id: 'evt "1"' })).toBe(
        encodeServerEvent({ event: "simulation_progress", data, id: 'evt "1"', seq: 7 }),
      );
    }
  });

  it("puts the acknowledged sender's message id in place of the publisher's", () => {
    const event = { seq: 3, event: "resource_updated", data: '{"path":"a"}', id: "evt_1" };
    expect(encodeTopicEvent(event, 12)).toBe('{"event":"resource_updated","data":{"path":"a"},"id":12,"seq":3}');
    expect(encodeTopicEvent(event, "msg_9")).toBe(
      '{"event":"resource_updated","data":{"path":"a"},"id":"msg_9","seq":3}',
    );
  });

  it("escapes the event name", () => {
    const frame = encodeTopicEvent({ seq: 1, event: 'odd"name', data: "{}" });
    expect(JSON.parse(frame)).toEqual({ event: 'odd"name', data: {}, seq: 1 });
  });
});
