import { Decoder, Encoder, type Packet, PacketType } from "socket.io-parser";
import { describe, expect, it } from "vitest";
import { encodeEnginePacket } from "../../../../src/protocol/socketio/engine";
import {
  decodeSioPacket,
  encodeAck,
  encodeEvent,
  encodeSioPacket,
  encodeTopicEventOpen,
  SIO,
  type SioPacket,
  SioParseError,
} from "../../../../src/protocol/socketio/parser";

/** socket.io-parser's encoding of a packet without binary: a single string. */
function theirEncode(packet: Packet): string {
  const parts: unknown[] = new Encoder().encode(packet);
  const [text] = parts;
  if (parts.length !== 1 || typeof text !== "string") throw new Error("expected one text part");
  return text;
}

/** socket.io-parser's decoding of one text part: the packet, or null while it awaits attachments. */
function theirDecode(text: string): Packet | null {
  const decoder = new Decoder();
  let decoded: Packet | null = null;
  decoder.on("decoded", (packet) => {
    decoded = packet;
  });
  decoder.add(text);
  decoder.destroy();
  return decoded;
}

/** The fields both parsers share, without the ones left undefined. */
function fields(packet: SioPacket | Packet): SioPacket {
  return {
    type: packet.type as SioPacket["type"],
    nsp: packet.nsp,
    ...(packet.id === undefined ? {} : { id: packet.id }),
    ...(packet.data === undefined ? {} : { data: packet.data }),
    ...(packet.attachments === undefined ? {} : { attachments: packet.attachments }),
  };
}

describe("SIO", () => {
  it("numbers the packet types like socket.io-parser", () => {
    expect(SIO).toEqual({
      CONNECT: PacketType.CONNECT,
      DISCONNECT: PacketType.DISCONNECT,
      EVENT: PacketType.EVENT,
      ACK: PacketType.ACK,
      CONNECT_ERROR: PacketType.CONNECT_ERROR,
      BINARY_EVENT: PacketType.BINARY_EVENT,
      BINARY_ACK: PacketType.BINARY_ACK,
    });
    expect(Object.values(SIO)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

describe("decodeSioPacket, packet by packet", () => {
  it("CONNECT without auth", () => {
    expect(decodeSioPacket("0")).toEqual({ type: SIO.CONNECT, nsp: "/" });
  });

  it("CONNECT with an auth object", () => {
    expect(decodeSioPacket('0{"token":"abc","userId":"user-123"}')).toEqual({
      type: SIO.CONNECT,
      nsp: "/",
      data: { token: "abc", userId: "user-123" },
    });
  });

  it("CONNECT with recovery fields (pid, offset)", () => {
    expect(decodeSioPacket('0{"pid":"weur.1.x","offset":"12@market:crude_oil"}').data).toEqual({
      pid: "weur.1.x",
      offset: "12@market:crude_oil",
    });
  });

  it('CONNECT to "/admin,"', () => {
    expect(decodeSioPacket("0/admin,")).toEqual({ type: SIO.CONNECT, nsp: "/admin" });
  });

  it("CONNECT to a namespace with auth", () => {
    expect(decodeSioPacket('0/admin,{"token":"abc"}')).toEqual({
      type: SIO.CONNECT,
      nsp: "/admin",
      data: { token: "abc" },
    });
  });

  it("CONNECT to a namespace without the trailing comma", () => {
    expect(decodeSioPacket("0/admin")).toEqual({ type: SIO.CONNECT, nsp: "/admin" });
  });

  it("DISCONNECT, from the main namespace and from another", () => {
    expect(decodeSioPacket("1")).toEqual({ type: SIO.DISCONNECT, nsp: "/" });
    expect(decodeSioPacket("1/admin,")).toEqual({ type: SIO.DISCONNECT, nsp: "/admin" });
  });

  it("EVENT without ack id", () => {
    expect(decodeSioPacket('2["subscribe-market",["crude_oil","natural_gas"]]')).toEqual({
      type: SIO.EVENT,
      nsp: "/",
      data: ["subscribe-market", ["crude_oil", "natural_gas"]],
    });
  });

  it("EVENT with an ack id", () => {
    expect(decodeSioPacket('212["join-trading","user-123"]')).toEqual({
      type: SIO.EVENT,
      nsp: "/",
      id: 12,
      data: ["join-trading", "user-123"],
    });
  });

  it("EVENT with ack id 0", () => {
    expect(decodeSioPacket('20["ping"]')).toEqual({ type: SIO.EVENT, nsp: "/", id: 0, data: ["ping"] });
  });

  it("EVENT in a namespace with an ack id", () => {
    expect(decodeSioPacket('2/admin,7["ping"]')).toEqual({ type: SIO.EVENT, nsp: "/admin", id: 7, data: ["ping"] });
  });

  it("EVENT with only a name", () => {
    expect(decodeSioPacket('2["ping"]').data).toEqual(["ping"]);
  });

  it("EVENT whose name is a number, as socket.io-parser accepts", () => {
    expect(decodeSioPacket("2[1,2]").data).toEqual([1, 2]);
  });

  it("ACK", () => {
    expect(decodeSioPacket('35[{"ok":true},null]')).toEqual({
      type: SIO.ACK,
      nsp: "/",
      id: 5,
      data: [{ ok: true }, null],
    });
    expect(decodeSioPacket("30[]")).toEqual({ type: SIO.ACK, nsp: "/", id: 0, data: [] });
  });

  it("CONNECT_ERROR", () => {
    expect(decodeSioPacket('4{"message":"Invalid namespace"}')).toEqual({
      type: SIO.CONNECT_ERROR,
      nsp: "/",
      data: { message: "Invalid namespace" },
    });
    expect(decodeSioPacket('4/admin,{"message":"Not authorized","data":{"code":"x"}}')).toEqual({
      type: SIO.CONNECT_ERROR,
      nsp: "/admin",
      data: { message: "Not authorized", data: { code: "x" } },
    });
  });

  it("BINARY_EVENT with its attachment count", () => {
    expect(decodeSioPacket('51-["upload",{"_placeholder":true,"num":0}]')).toEqual({
      type: SIO.BINARY_EVENT,
      nsp: "/",
      attachments: 1,
      data: ["upload", { _placeholder: true, num: 0 }],
    });
  });

  it("BINARY_EVENT with several attachments, a namespace and an ack id", () => {
    expect(
      decodeSioPacket('512-/admin,3["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
    ).toEqual({
      type: SIO.BINARY_EVENT,
      nsp: "/admin",
      id: 3,
      attachments: 12,
      data: ["upload", { _placeholder: true, num: 0 }, { _placeholder: true, num: 1 }],
    });
  });

  it("BINARY_ACK with its attachment count", () => {
    expect(decodeSioPacket('61-4[{"_placeholder":true,"num":0}]')).toEqual({
      type: SIO.BINARY_ACK,
      nsp: "/",
      id: 4,
      attachments: 1,
      data: [{ _placeholder: true, num: 0 }],
    });
  });

  it("reads the largest ack id", () => {
    expect(decodeSioPacket(`2${2 ** 31 - 1}["ping"]`).id).toBe(2 ** 31 - 1);
  });
});

describe("decodeSioPacket, malformed packets", () => {
  it.each([
    ["empty", ""],
    ["type 7", '7["x"]'],
    ["type 9", "9"],
    ["a letter", 'x["x"]'],
    ["a minus sign", '-1["x"]'],
    ["a JSON array", '["x"]'],
    ["a JSON object", '{"type":2}'],
  ])("refuses an unknown type (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
    expect(() => decodeSioPacket(text)).toThrow(/unknown packet type/);
  });

  it.each([
    ["no count", '5-["x"]'],
    ["no dash", '5["x"]'],
    ["no dash, nothing after the type", "5"],
    ["a letter", '5a-["x"]'],
    ["a negative count", '5-1-["x"]'],
    ["a fraction", '51.5-["x"]'],
    ["an exponent", '51e2-["x"]'],
    ["spaces", '5 1-["x"]'],
    ["an unsafe integer", `5${"9".repeat(20)}-["x"]`],
    ["a binary ack without count", "6-1[]"],
  ])("refuses a bad attachment count (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
  });

  it.each([
    ["an EVENT", '2["x",'],
    ["an EVENT with ack id", "21{not json}"],
    ["a CONNECT", "0{token:1}"],
    ["a CONNECT_ERROR", "4message"],
    ["an ACK", "31[1,]"],
    ["a namespaced EVENT", "2/admin,[undefined]"],
  ])("refuses a payload that is not JSON (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
    expect(() => decodeSioPacket(text)).toThrow("payload is not JSON");
  });

  it.each([
    ["an object", '2{"event":"x"}'],
    ["a string", '2"ping"'],
    ["null", "2null"],
    ["true", "2true"],
    ["nothing", "2"],
    ["nothing after an ack id", "27"],
  ])("refuses an EVENT whose payload is not an array (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
    expect(() => decodeSioPacket(text)).toThrow("EVENT payload must be [name, ...args]");
  });

  it("refuses an EVENT with an empty array", () => {
    expect(() => decodeSioPacket("2[]")).toThrow(SioParseError);
    expect(() => decodeSioPacket("23[]")).toThrow(SioParseError);
  });

  it.each([
    ["null", "2[null]"],
    ["an object", '2[{"name":"x"}]'],
    ["an array", '2[["x"]]'],
    ["a boolean", "2[true]"],
  ])("refuses an EVENT whose first element is not a string (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
  });

  it("refuses a BINARY_EVENT whose payload is not [name, ...]", () => {
    expect(() => decodeSioPacket("51-[]")).toThrow(SioParseError);
    expect(() => decodeSioPacket('51-{"a":1}')).toThrow(SioParseError);
  });

  it.each([
    ["no id", '3["x"]'],
    ["no id, empty array", "3[]"],
    ["nothing", "3"],
    ["an id and no payload", "35"],
    ["an object payload", '35{"ok":true}'],
    ["a string payload", '35"ok"'],
    ["a binary ack without id", "61-[]"],
  ])("refuses an ACK without id or array (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
    expect(() => decodeSioPacket(text)).toThrow("ACK needs an id and an array");
  });

  it.each([
    ["an array", '0["token"]'],
    ["an empty array", "0[]"],
    ["a string", '0"token"'],
    ["a string after the namespace", '0/admin,"token"'],
    ["null", "0null"],
  ])("refuses a CONNECT whose payload is not an object (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
  });

  it.each([
    ["an object", '1{"reason":"bye"}'],
    ["an array", "1[]"],
    ["null", "1null"],
    ["a string", '1"bye"'],
    ["a namespace and an object", "1/admin,{}"],
  ])("refuses a DISCONNECT with a payload (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
  });

  it.each([
    ["2^31", `2${2 ** 31}["ping"]`],
    ["an unsafe integer", `2${2 ** 53}["ping"]`],
    ["twenty nines", `2${"9".repeat(20)}["ping"]`],
    ["four hundred digits", `3${"1".repeat(400)}[]`],
  ])("refuses an ack id overflow (%s)", (_, text) => {
    expect(() => decodeSioPacket(text)).toThrow(SioParseError);
    expect(() => decodeSioPacket(text)).toThrow("bad ack id");
  });

  it("is an Error named SioParseError", () => {
    const error = new SioParseError("x");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("SioParseError");
  });
});

describe("encodeSioPacket, encodeEvent, encodeAck", () => {
  it("encodes the packets the server sends", () => {
    expect(encodeSioPacket({ type: SIO.CONNECT, nsp: "/", data: { sid: "abc", pid: "weur.0.x" } })).toBe(
      '0{"sid":"abc","pid":"weur.0.x"}',
    );
    expect(encodeSioPacket({ type: SIO.DISCONNECT, nsp: "/" })).toBe("1");
    expect(encodeSioPacket({ type: SIO.CONNECT_ERROR, nsp: "/admin", data: { message: "Invalid namespace" } })).toBe(
      '4/admin,{"message":"Invalid namespace"}',
    );
    expect(encodeSioPacket({ type: SIO.ACK, nsp: "/", id: 3, data: [null] })).toBe("33[null]");
  });

  it("encodes an event as 42-style text: name first, then the arguments", () => {
    expect(encodeEvent("auth-success", [{ message: "Authentication successful", userId: "user-123" }])).toBe(
      '2["auth-success",{"message":"Authentication successful","userId":"user-123"}]',
    );
    expect(encodeEvent("pong", [])).toBe('2["pong"]');
    expect(encodeEvent("x", [1, "two", null], 9)).toBe('29["x",1,"two",null]');
  });

  it("encodes an ack with its id", () => {
    expect(encodeAck(0, [])).toBe("30[]");
    expect(encodeAck(42, [{ error: { code: "invalid_event" } }])).toBe('342[{"error":{"code":"invalid_event"}}]');
  });

  it("round-trips through decodeSioPacket", () => {
    const packets: SioPacket[] = [
      { type: SIO.CONNECT, nsp: "/" },
      { type: SIO.CONNECT, nsp: "/", data: { token: "t" } },
      { type: SIO.CONNECT, nsp: "/admin", data: { sid: "s" } },
      { type: SIO.DISCONNECT, nsp: "/" },
      { type: SIO.DISCONNECT, nsp: "/admin" },
      { type: SIO.EVENT, nsp: "/", data: ["market-update", { price: 75.25 }] },
      { type: SIO.EVENT, nsp: "/", id: 17, data: ["ping"] },
      { type: SIO.EVENT, nsp: "/admin", id: 0, data: ["x", "héllo 😀"] },
      { type: SIO.ACK, nsp: "/", id: 2 ** 31 - 1, data: [] },
      { type: SIO.CONNECT_ERROR, nsp: "/", data: { message: "m", data: { code: "c" } } },
    ];
    for (const packet of packets) expect(decodeSioPacket(encodeSioPacket(packet))).toEqual(packet);
  });

  // Regression (fixed in parser.ts): encodeSioPacket drops `attachments`, so a BINARY_EVENT or
  // BINARY_ACK comes out as `5["x",...]`, which neither decodeSioPacket nor socket.io-parser can read
  // ("bad attachment count" / "Illegal attachments"). The header grammar at the top of the file has
  // `[ attachments "-" ]`. Fix: after `let text = String(packet.type);` add
  //   if (packet.type === SIO.BINARY_EVENT || packet.type === SIO.BINARY_ACK) text += `${packet.attachments ?? 0}-`;
  it("round-trips BINARY_EVENT and BINARY_ACK with their attachment counts", () => {
    const binaryEvent: SioPacket = {
      type: SIO.BINARY_EVENT,
      nsp: "/",
      attachments: 1,
      data: ["upload", { _placeholder: true, num: 0 }],
    };
    const binaryAck: SioPacket = {
      type: SIO.BINARY_ACK,
      nsp: "/admin",
      id: 4,
      attachments: 2,
      data: [
        { _placeholder: true, num: 0 },
        { _placeholder: true, num: 1 },
      ],
    };
    expect(encodeSioPacket(binaryEvent)).toBe('51-["upload",{"_placeholder":true,"num":0}]');
    expect(decodeSioPacket(encodeSioPacket(binaryEvent))).toEqual(binaryEvent);
    expect(decodeSioPacket(encodeSioPacket(binaryAck))).toEqual(binaryAck);
  });
});

describe("interop with socket.io-parser", () => {
  const theirPackets: Packet[] = [
    { type: PacketType.CONNECT, nsp: "/" },
    { type: PacketType.CONNECT, nsp: "/", data: { token: "jwt", userId: "user-123" } },
    { type: PacketType.CONNECT, nsp: "/admin" },
    { type: PacketType.CONNECT, nsp: "/admin", data: { token: "jwt" } },
    { type: PacketType.DISCONNECT, nsp: "/" },
    { type: PacketType.DISCONNECT, nsp: "/admin" },
    { type: PacketType.EVENT, nsp: "/", data: ["authenticate", { userId: "user-123", token: "jwt" }] },
    { type: PacketType.EVENT, nsp: "/", id: 0, data: ["subscribe-market", ["crude_oil", "natural_gas"]] },
    { type: PacketType.EVENT, nsp: "/", id: 123, data: ["join-trading", "user-123"] },
    { type: PacketType.EVENT, nsp: "/admin", id: 5, data: ["x", "héllo 😀", 1.5, null, { a: [1, 2] }] },
    { type: PacketType.EVENT, nsp: "/", data: [7, "numeric name"] },
    { type: PacketType.ACK, nsp: "/", id: 1, data: [] },
    { type: PacketType.ACK, nsp: "/", id: 99, data: [{ ok: true }, "x"] },
    { type: PacketType.ACK, nsp: "/admin", id: 2, data: [null] },
    { type: PacketType.CONNECT_ERROR, nsp: "/", data: { message: "Not authorized" } },
    { type: PacketType.CONNECT_ERROR, nsp: "/admin", data: { message: "Invalid namespace", data: { code: 1 } } },
  ];

  it.each(theirPackets.map((packet) => [theirEncode(packet), packet] as const))(
    "decodes socket.io-parser's %s to the same fields",
    (text, packet) => {
      expect(decodeSioPacket(text)).toEqual(fields(packet));
      const reference = theirDecode(text);
      expect(reference).not.toBeNull();
      if (reference) expect(decodeSioPacket(text)).toEqual(fields(reference));
    },
  );

  it("decodes socket.io-parser's binary event header: type, attachment count, placeholders", () => {
    const parts: unknown[] = new Encoder().encode({
      type: PacketType.EVENT,
      nsp: "/",
      id: 8,
      data: ["upload", new Uint8Array([1, 2, 3]), { nested: new Uint8Array([4]).buffer }],
    });
    expect(parts).toHaveLength(3);
    const [header] = parts;
    if (typeof header !== "string") throw new Error("the header is text");
    expect(decodeSioPacket(header)).toEqual({
      type: SIO.BINARY_EVENT,
      nsp: "/",
      id: 8,
      attachments: 2,
      data: ["upload", { _placeholder: true, num: 0 }, { nested: { _placeholder: true, num: 1 } }],
    });
  });

  it("decodes socket.io-parser's binary ack header", () => {
    const parts: unknown[] = new Encoder().encode({
      type: PacketType.ACK,
      nsp: "/admin",
      id: 3,
      data: [new Uint8Array([9])],
    });
    const [header] = parts;
    if (typeof header !== "string") throw new Error("the header is text");
    expect(decodeSioPacket(header)).toEqual({
      type: SIO.BINARY_ACK,
      nsp: "/admin",
      id: 3,
      attachments: 1,
      data: [{ _placeholder: true, num: 0 }],
    });
  });

  it("encodes what socket.io-parser's Decoder reads back to the same fields", () => {
    const ours: SioPacket[] = [
      { type: SIO.CONNECT, nsp: "/", data: { sid: "abc", pid: "weur.0.AAAAAAAAAAAAAAAAAAAAAAAA" } },
      { type: SIO.CONNECT, nsp: "/" },
      { type: SIO.DISCONNECT, nsp: "/" },
      { type: SIO.CONNECT_ERROR, nsp: "/admin", data: { message: "Invalid namespace" } },
      { type: SIO.CONNECT_ERROR, nsp: "/", data: { message: "Token expired", data: { code: "authentication_error" } } },
      { type: SIO.EVENT, nsp: "/", data: ["market-update", { type: "MARKET_UPDATE" }] },
      { type: SIO.EVENT, nsp: "/", id: 4, data: ["x"] },
      { type: SIO.ACK, nsp: "/", id: 0, data: [null] },
      { type: SIO.ACK, nsp: "/admin", id: 12, data: [{ error: { code: "invalid_message" } }] },
    ];
    for (const packet of ours) expect(theirDecode(encodeSioPacket(packet))).toEqual(fields(packet));
  });

  it("encodeEvent output is read by socket.io-parser as the event, with and without ack id", () => {
    const payload = { type: "SYSTEM_ALERT", payload: { message: 'héllo 😀 "quoted" \u2028' } };
    expect(theirDecode(encodeEvent("system-alert", [payload]))).toEqual({
      type: PacketType.EVENT,
      nsp: "/",
      data: ["system-alert", payload],
    });
    expect(theirDecode(encodeEvent("pong", [{ timestamp: 1627689600000 }], 31))).toEqual({
      type: PacketType.EVENT,
      nsp: "/",
      id: 31,
      data: ["pong", { timestamp: 1627689600000 }],
    });
  });

  it("encodeAck output is read by socket.io-parser as the ack", () => {
    expect(theirDecode(encodeAck(7, [{ room: "trading-user-123" }]))).toEqual({
      type: PacketType.ACK,
      nsp: "/",
      id: 7,
      data: [{ room: "trading-user-123" }],
    });
    expect(theirDecode(encodeAck(0, []))).toEqual({ type: PacketType.ACK, nsp: "/", id: 0, data: [] });
  });

  it("refuses the malformed packets socket.io-parser refuses", () => {
    for (const text of ['7["x"]', '2["x",', "2{}", "0[]", '1{"a":1}', '5-["x"]', "5a-[]"]) {
      expect(() => theirDecode(text), text).toThrow();
      expect(() => decodeSioPacket(text), text).toThrow(SioParseError);
    }
  });
});

describe("encodeTopicEventOpen", () => {
  const DATA: unknown[] = [
    { commodity: "gas", price: 12.5, volume: 1e21, tiny: 5e-7 },
    { "2": "integer-like keys first", "1": [null, true, { a: 'é 😀 \u2028 " \\' }] },
    [],
    "text",
    0,
    null,
  ];

  it("is byte for byte the Engine.IO message of encodeEvent, without its closing bracket", () => {
    for (const data of DATA) {
      const whole = encodeEnginePacket("message", encodeEvent("market-update", [data]));
      const open = encodeTopicEventOpen({ event: "market-update", data: JSON.stringify(data) });
      expect(`${open}]`).toBe(whole);
    }
  });

  it("takes a recovery offset as one more argument", () => {
    const open = encodeTopicEventOpen({ event: "order-update", data: '{"id":1}' });
    expect(`${open},"off_1"]`).toBe(encodeEnginePacket("message", encodeEvent("order-update", [{ id: 1 }, "off_1"])));
  });
});
