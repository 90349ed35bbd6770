import * as eio from "engine.io-parser";
import { describe, expect, it } from "vitest";
import {
  decodeEnginePacket,
  decodePayload,
  ENGINE_ERRORS,
  ENGINE_PACKET,
  EngineError,
  type EnginePacketType,
  encodeEnginePacket,
  encodeOpen,
  encodePayload,
  RECORD_SEPARATOR,
} from "../../../../src/protocol/socketio/engine";

const TEXT_TYPES = Object.keys(ENGINE_PACKET) as EnginePacketType[];

/** Text data a packet may carry: empty, JSON, a Socket.IO packet, non-ASCII, digits that look like types. */
const SAMPLE_DATA = ["", "probe", '2["market-update",{"price":75.25}]', "héllo 😀 世界", "0123456789", "b not binary"];

/** engine.io-parser's encodePacket, whose callback runs synchronously for text packets. */
function eioEncodePacket(packet: eio.Packet): string {
  let encoded: unknown;
  eio.encodePacket(packet, false, (result) => {
    encoded = result;
  });
  if (typeof encoded !== "string") throw new Error("engine.io-parser did not encode synchronously to text");
  return encoded;
}

function eioEncodePayload(packets: eio.Packet[]): string {
  let encoded: string | undefined;
  eio.encodePayload(packets, (result) => {
    encoded = result;
  });
  if (encoded === undefined) throw new Error("engine.io-parser did not encode the payload synchronously");
  return encoded;
}

/** engine.io-parser leaves `data` out for a packet without data; ours always has a string. */
function eioText(packet: eio.Packet): { type: string; data: string } {
  const data: unknown = packet.data;
  if (data !== undefined && typeof data !== "string") throw new Error(`not a text packet: ${String(data)}`);
  return { type: packet.type, data: data ?? "" };
}

function bytesOfBase64(base64: string): number[] {
  return [...atob(base64)].map((char) => char.charCodeAt(0));
}

describe("ENGINE_PACKET", () => {
  it("numbers the seven Engine.IO v4 packet types 0 to 6", () => {
    expect(ENGINE_PACKET).toEqual({
      open: "0",
      close: "1",
      ping: "2",
      pong: "3",
      message: "4",
      upgrade: "5",
      noop: "6",
    });
  });

  it("uses the same digits as engine.io-parser", () => {
    for (const type of TEXT_TYPES) expect(eioEncodePacket({ type })).toBe(ENGINE_PACKET[type]);
  });

  it("separates polling packets with the ASCII record separator, like engine.io-parser", () => {
    expect(RECORD_SEPARATOR).toBe("\u001e");
    expect(eioEncodePayload([{ type: "ping" }, { type: "noop" }])).toBe(`2${RECORD_SEPARATOR}6`);
  });
});

describe("encodeEnginePacket / decodeEnginePacket", () => {
  it.each(TEXT_TYPES)("encodes a %s packet as its digit followed by the data", (type) => {
    expect(encodeEnginePacket(type, "abc")).toBe(`${ENGINE_PACKET[type]}abc`);
    expect(encodeEnginePacket(type)).toBe(ENGINE_PACKET[type]);
  });

  it.each(TEXT_TYPES)("decodes a %s packet with and without data", (type) => {
    expect(decodeEnginePacket(`${ENGINE_PACKET[type]}abc`)).toEqual({ type, data: "abc" });
    expect(decodeEnginePacket(ENGINE_PACKET[type])).toEqual({ type, data: "" });
  });

  it.each(TEXT_TYPES)("round-trips a %s packet for every sample data", (type) => {
    for (const data of SAMPLE_DATA) expect(decodeEnginePacket(encodeEnginePacket(type, data))).toEqual({ type, data });
  });

  it("decodes the packets of a real handshake and heartbeat", () => {
    expect(decodeEnginePacket("2")).toEqual({ type: "ping", data: "" });
    expect(decodeEnginePacket("3probe")).toEqual({ type: "pong", data: "probe" });
    expect(decodeEnginePacket("5")).toEqual({ type: "upgrade", data: "" });
    expect(decodeEnginePacket('40{"token":"t"}')).toEqual({ type: "message", data: '0{"token":"t"}' });
  });

  it("keeps everything after the type digit as data, verbatim", () => {
    expect(decodeEnginePacket("44").data).toBe("4");
    expect(decodeEnginePacket(`4a${RECORD_SEPARATOR}b`).data).toBe(`a${RECORD_SEPARATOR}b`);
    expect(decodeEnginePacket("4  ").data).toBe("  ");
  });

  it('decodes a "b" packet as a binary message carrying the base64 text', () => {
    expect(decodeEnginePacket("bAQID")).toEqual({ type: "binary", data: "AQID" });
    expect(decodeEnginePacket("b")).toEqual({ type: "binary", data: "" });
  });

  describe("malformed packets", () => {
    it("refuses an empty packet", () => {
      expect(() => decodeEnginePacket("")).toThrow(EngineError);
      expect(() => decodeEnginePacket("")).toThrow("empty packet");
    });

    it.each(["7", "8", "9", "x", "B", "-", " ", "{", "\u001e", "é"])('refuses the unknown type "%s"', (head) => {
      expect(() => decodeEnginePacket(`${head}data`)).toThrow(EngineError);
      expect(() => decodeEnginePacket(`${head}data`)).toThrow(/unknown packet type/);
    });

    it("refuses type names spelled like Object.prototype members", () => {
      for (const text of ["constructor", "toString", "__proto__"])
        expect(() => decodeEnginePacket(text)).toThrow(EngineError);
    });

    it("is an Error named EngineError", () => {
      const error = new EngineError("x");
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe("EngineError");
    });
  });
});

describe("encodePayload / decodePayload", () => {
  it("joins packets with the record separator", () => {
    expect(encodePayload(["4hello", "2", '42["x"]'])).toBe(`4hello${RECORD_SEPARATOR}2${RECORD_SEPARATOR}42["x"]`);
  });

  it("encodes one packet as itself", () => {
    expect(encodePayload(["6"])).toBe("6");
  });

  it("splits a payload into its packets, in order", () => {
    expect(decodePayload(`4hello${RECORD_SEPARATOR}2${RECORD_SEPARATOR}bAQID${RECORD_SEPARATOR}1`)).toEqual([
      { type: "message", data: "hello" },
      { type: "ping", data: "" },
      { type: "binary", data: "AQID" },
      { type: "close", data: "" },
    ]);
  });

  it("decodes a payload of one packet", () => {
    expect(decodePayload('40{"token":"t"}')).toEqual([{ type: "message", data: '0{"token":"t"}' }]);
  });

  it("round-trips every packet type in one payload", () => {
    const packets = TEXT_TYPES.map((type, i) => ({ type, data: SAMPLE_DATA[i % SAMPLE_DATA.length] ?? "" }));
    const body = encodePayload(packets.map(({ type, data }) => encodeEnginePacket(type, data)));
    expect(decodePayload(body)).toEqual(packets);
  });

  describe("malformed payloads", () => {
    it("refuses an empty payload", () => {
      expect(() => decodePayload("")).toThrow(EngineError);
      expect(() => decodePayload("")).toThrow("empty payload");
    });

    it.each([
      ["a leading separator", `${RECORD_SEPARATOR}4a`],
      ["a trailing separator", `4a${RECORD_SEPARATOR}`],
      ["two separators in a row", `4a${RECORD_SEPARATOR}${RECORD_SEPARATOR}4b`],
      ["only a separator", RECORD_SEPARATOR],
    ])("refuses %s (an empty packet)", (_, body) => {
      expect(() => decodePayload(body)).toThrow(EngineError);
    });

    it("refuses a payload with one unknown packet among good ones", () => {
      expect(() => decodePayload(`4a${RECORD_SEPARATOR}9b${RECORD_SEPARATOR}2`)).toThrow(/unknown packet type "9"/);
    });
  });
});

describe("interop with engine.io-parser", () => {
  it.each(TEXT_TYPES)("decodes what engine.io-parser encodes for a %s packet", (type) => {
    for (const data of SAMPLE_DATA) {
      const packet: eio.Packet = data === "" ? { type } : { type, data };
      expect(decodeEnginePacket(eioEncodePacket(packet))).toEqual({ type, data });
    }
  });

  it.each(TEXT_TYPES)("encodes a %s packet that engine.io-parser decodes to the same type and data", (type) => {
    for (const data of SAMPLE_DATA) {
      expect(eioText(eio.decodePacket(encodeEnginePacket(type, data)))).toEqual({ type, data });
    }
  });

  it("decodes an engine.io-parser polling payload", () => {
    const packets: eio.Packet[] = [
      { type: "open", data: '{"sid":"s"}' },
      { type: "message", data: '2["market-update",{"price":75.25}]' },
      { type: "ping" },
      { type: "message", data: "héllo 😀" },
      { type: "noop" },
      { type: "close" },
    ];
    expect(decodePayload(eioEncodePayload(packets))).toEqual(packets.map(eioText));
  });

  it("encodes a polling payload that engine.io-parser decodes packet for packet", () => {
    const ours = [
      encodeEnginePacket("message", '0{"sid":"abc"}'),
      encodeEnginePacket("ping"),
      encodeEnginePacket("message", '2["auth-success",{"message":"Authentication successful"}]'),
      encodeEnginePacket("noop"),
    ];
    expect(eio.decodePayload(encodePayload(ours)).map(eioText)).toEqual([
      { type: "message", data: '0{"sid":"abc"}' },
      { type: "ping", data: "" },
      { type: "message", data: '2["auth-success",{"message":"Authentication successful"}]' },
      { type: "noop", data: "" },
    ]);
  });

  it("reads a base64 binary packet as the same bytes engine.io-parser does", () => {
    const bytes = [0, 1, 2, 250, 255];
    const text = `b${btoa(String.fromCharCode(...bytes))}`;
    const ours = decodeEnginePacket(text);
    expect(ours.type).toBe("binary");
    expect(bytesOfBase64(ours.data)).toEqual(bytes);
    const theirs = eio.decodePacket(text, "arraybuffer");
    expect(theirs.type).toBe("message");
    expect(theirs.data).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(theirs.data)]).toEqual(bytes);
  });

  it("refuses what engine.io-parser decodes as an error packet", () => {
    for (const text of ["", "9", "x1"]) {
      expect(eio.decodePacket(text).type).toBe("error");
      expect(() => decodeEnginePacket(text)).toThrow(EngineError);
    }
  });
});

describe("encodeOpen", () => {
  const handshake = {
    sid: "weur.3.AAAAAAAAAAAAAAAAAAAAAAAA",
    upgrades: ["websocket"],
    pingInterval: 25000,
    pingTimeout: 20000,
    maxPayload: 1000000,
  };

  it("is an open packet carrying the handshake as JSON", () => {
    const text = encodeOpen(handshake);
    expect(text.charAt(0)).toBe("0");
    const packet = decodeEnginePacket(text);
    expect(packet.type).toBe("open");
    expect(JSON.parse(packet.data)).toEqual(handshake);
  });

  it("is read by engine.io-parser as the open packet socket.io-client expects", () => {
    const packet = eio.decodePacket(encodeOpen(handshake));
    expect(packet.type).toBe("open");
    expect(JSON.parse(eioText(packet).data)).toEqual(handshake);
  });
});

/**
 * Engine.IO's own error table, read as text from the installed server (engine.io/build/server.js,
 * a dev dependency through socket.io; it cannot run in workerd). Null when it is not installed.
 */
async function engineIoServerErrors(): Promise<{
  names: Record<string, number>;
  messages: Record<string, string>;
} | null> {
  const path = "../../../../node_modules/engine.io/build/server.js?raw";
  let module: unknown;
  try {
    module = await import(/* @vite-ignore */ path);
  } catch {
    return null;
  }
  const source = (module as { default: unknown }).default;
  if (typeof source !== "string") throw new Error("engine.io's server source did not load as text");
  const block = (name: string): Record<string, string> => {
    const match = new RegExp(`\\.${name} = \\{([^}]*)\\}`).exec(source);
    if (!match?.[1]) throw new Error(`${name} not found in engine.io's server`);
    return Object.fromEntries(
      [...match[1].matchAll(/(\w+):\s*("[^"]*"|\d+)/g)].map(([, key = "", value = ""]) => [key, value]),
    );
  };
  const names = Object.fromEntries(Object.entries(block("errors")).map(([key, value]) => [key, Number(value)]));
  const messages = Object.fromEntries(
    Object.entries(block("errorMessages")).map(([key, value]) => [key, String(JSON.parse(value))]),
  );
  return { names, messages };
}

describe("ENGINE_ERRORS", () => {
  it("has Engine.IO's codes 0 to 5, each with its message", () => {
    expect(ENGINE_ERRORS).toEqual({
      transport_unknown: { code: 0, message: "Transport unknown" },
      session_id_unknown: { code: 1, message: "Session ID unknown" },
      bad_handshake_method: { code: 2, message: "Bad handshake method" },
      bad_request: { code: 3, message: "Bad request" },
      forbidden: { code: 4, message: "Forbidden" },
      unsupported_protocol_version: { code: 5, message: "Unsupported protocol version" },
    });
  });

  it("matches the error table of the installed engine.io server", async ({ skip }) => {
    const table = await engineIoServerErrors();
    if (table === null) return skip("engine.io (the Node server) is not installed");
    const { names, messages } = table;
    const theirs = {
      transport_unknown: names.UNKNOWN_TRANSPORT,
      session_id_unknown: names.UNKNOWN_SID,
      bad_handshake_method: names.BAD_HANDSHAKE_METHOD,
      bad_request: names.BAD_REQUEST,
      forbidden: names.FORBIDDEN,
      unsupported_protocol_version: names.UNSUPPORTED_PROTOCOL_VERSION,
    };
    expect(Object.keys(names)).toHaveLength(6);
    for (const [name, code] of Object.entries(theirs)) {
      expect(code, name).toBeTypeOf("number");
      const ours = ENGINE_ERRORS[name as keyof typeof ENGINE_ERRORS];
      expect(ours.code, name).toBe(code);
      expect(ours.message, name).toBe(messages[String(code)]);
    }
  });

  it("has distinct codes", () => {
    const codes = Object.values(ENGINE_ERRORS).map((error) => error.code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
