import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { afterEach, describe, expect, it } from "vitest";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";
import {
  type AwarenessEntry,
  decodeAwarenessUpdate,
  decodeYjsMessage,
  encodeAwareness,
  encodeAwarenessUpdate,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  MESSAGE_AUTH,
  MESSAGE_AWARENESS,
  MESSAGE_QUERY_AWARENESS,
  MESSAGE_SYNC,
  SYNC_STEP1,
  SYNC_STEP2,
  SYNC_UPDATE,
  YjsFrameError,
  type YjsMessage,
} from "../../../../src/protocol/yjs/frames";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Writes a frame with lib0 directly, the way y-websocket builds its messages. */
function lib0Frame(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  write(encoder);
  return encoding.toUint8Array(encoder);
}

/** A doc with some content, so that state vectors and updates are not trivial. */
function docWith(entries: Record<string, unknown>): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const [key, value] of Object.entries(entries)) doc.getMap("data").set(key, value);
  });
  return doc;
}

function expectFrameError(frame: Uint8Array, decode: (frame: Uint8Array) => unknown = decodeYjsMessage): void {
  expect(() => decode(frame)).toThrow(YjsFrameError);
}

function narrow<T extends YjsMessage["type"]>(message: YjsMessage, type: T): Extract<YjsMessage, { type: T }> {
  if (message.type !== type) throw new Error(`expected a ${type} message, got ${message.type}`);
  return message as Extract<YjsMessage, { type: T }>;
}

const awarenesses: awarenessProtocol.Awareness[] = [];

/** A y-protocols Awareness, destroyed after the test (it runs an interval timer). */
function newAwareness(doc: Y.Doc = new Y.Doc()): awarenessProtocol.Awareness {
  const awareness = new awarenessProtocol.Awareness(doc);
  awarenesses.push(awareness);
  return awareness;
}

afterEach(() => {
  for (const awareness of awarenesses.splice(0)) awareness.destroy();
});

describe("message type constants", () => {
  it("match y-protocols' numbering", () => {
    expect([MESSAGE_SYNC, MESSAGE_AWARENESS, MESSAGE_AUTH, MESSAGE_QUERY_AWARENESS]).toEqual([0, 1, 2, 3]);
    expect([SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE]).toEqual([
      syncProtocol.messageYjsSyncStep1,
      syncProtocol.messageYjsSyncStep2,
      syncProtocol.messageYjsUpdate,
    ]);
  });
});

describe("encoders write the y-websocket wire format byte for byte", () => {
  it("encodeSyncStep1: type 0, subtype 0, varbytes state vector", () => {
    expect(encodeSyncStep1(bytes(7, 8))).toEqual(bytes(0, 0, 2, 7, 8));
  });

  it("encodeSyncStep2: type 0, subtype 1, varbytes update", () => {
    expect(encodeSyncStep2(bytes(7, 8, 9))).toEqual(bytes(0, 1, 3, 7, 8, 9));
  });

  it("encodeUpdate: type 0, subtype 2, varbytes update", () => {
    expect(encodeUpdate(bytes(5))).toEqual(bytes(0, 2, 1, 5));
  });

  it("encodeAwareness: type 1, varbytes awareness update", () => {
    expect(encodeAwareness(bytes(1, 2))).toEqual(bytes(1, 2, 1, 2));
  });

  it("encodePermissionDenied: type 2, 0, varstring reason", () => {
    expect(encodePermissionDenied("no")).toEqual(bytes(2, 0, 2, 0x6e, 0x6f));
  });

  it("writes lengths of 128 bytes and more as multi-byte varuints", () => {
    const payload = new Uint8Array(300).fill(1);
    const frame = encodeUpdate(payload);
    // 300 = 0b10_0101100 → 0xac 0x02
    expect(frame.subarray(0, 4)).toEqual(bytes(0, 2, 0xac, 0x02));
    expect(frame.byteLength).toBe(4 + 300);
  });

  it("encodeAwarenessUpdate: count, then clientID, clock and JSON state per entry", () => {
    expect(encodeAwarenessUpdate([{ clientID: 3, clock: 4, state: "{}" }])).toEqual(bytes(1, 3, 4, 2, 0x7b, 0x7d));
    expect(encodeAwarenessUpdate([])).toEqual(bytes(0));
  });
});

describe("round trips through our own encoders and decoders", () => {
  it("sync step 1 carries the state vector", () => {
    const stateVector = Y.encodeStateVector(docWith({ a: 1 }));
    expect(decodeYjsMessage(encodeSyncStep1(stateVector))).toEqual({ type: "sync-step1", stateVector });
  });

  it("sync step 2 carries the update", () => {
    const update = Y.encodeStateAsUpdate(docWith({ a: 1, b: "two" }));
    expect(decodeYjsMessage(encodeSyncStep2(update))).toEqual({ type: "sync-step2", update });
  });

  it("update carries the update", () => {
    const update = Y.encodeStateAsUpdate(docWith({ c: [1, 2, 3] }));
    expect(decodeYjsMessage(encodeUpdate(update))).toEqual({ type: "update", update });
  });

  it("empty payloads round-trip", () => {
    expect(decodeYjsMessage(encodeSyncStep1(bytes()))).toEqual({ type: "sync-step1", stateVector: bytes() });
    expect(decodeYjsMessage(encodeSyncStep2(bytes()))).toEqual({ type: "sync-step2", update: bytes() });
    expect(decodeYjsMessage(encodeUpdate(bytes()))).toEqual({ type: "update", update: bytes() });
    expect(decodeYjsMessage(encodeAwareness(bytes()))).toEqual({ type: "awareness", update: bytes() });
  });

  it("a large update (multi-byte length) round-trips", () => {
    const update = new Uint8Array(100_000).map((_, i) => i % 251);
    expect(decodeYjsMessage(encodeUpdate(update))).toEqual({ type: "update", update });
  });

  it("awareness carries the awareness update", () => {
    const update = encodeAwarenessUpdate([{ clientID: 1, clock: 2, state: '{"user":"a"}' }]);
    expect(decodeYjsMessage(encodeAwareness(update))).toEqual({ type: "awareness", update });
  });

  it("permission denied carries the reason, including non-ASCII text", () => {
    expect(decodeYjsMessage(encodePermissionDenied("forbidden"))).toEqual({ type: "auth", reason: "forbidden" });
    expect(decodeYjsMessage(encodePermissionDenied(""))).toEqual({ type: "auth", reason: "" });
    expect(decodeYjsMessage(encodePermissionDenied("accès refusé 🚫"))).toEqual({
      type: "auth",
      reason: "accès refusé 🚫",
    });
  });

  it("permission denied keeps a leading U+FEFF in the reason, as lib0's readVarString does", () => {
    // Regression (fixed in frames.ts): readString decodes with `ignoreBOM: false`, which strips a
    // leading byte-order mark, so decoding is not the inverse of encodePermissionDenied (nor of
    // lib0's writeVarString/readVarString, which decode with `ignoreBOM: true`).
    // Fix: `new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })`.
    const reason = "\uFEFFreason";
    const frame = encodePermissionDenied(reason);
    expect(decoding.readVarString(decoding.createDecoder(frame.subarray(2)))).toBe(reason);
    expect(decodeYjsMessage(frame)).toEqual({ type: "auth", reason });
  });

  it("query-awareness is the single byte 3", () => {
    expect(decodeYjsMessage(bytes(3))).toEqual({ type: "query-awareness" });
  });

  it("awareness updates round-trip, including removals, large ids and non-ASCII states", () => {
    const entries: AwarenessEntry[] = [
      { clientID: 1, clock: 0, state: "{}" },
      { clientID: 2 ** 32 + 5, clock: 2 ** 40, state: '{"user":{"name":"Zoë 👩‍💻","color":"#ff0"}}' },
      { clientID: 42, clock: 7, state: "null" },
      { clientID: 43, clock: 1, state: '"just a string"' },
    ];
    const utf8 = (text: string) => new TextEncoder().encode(text).length;
    expect(decodeAwarenessUpdate(encodeAwarenessUpdate(entries))).toEqual(
      entries.map((entry) => ({ ...entry, bytes: utf8(entry.state) })),
    );
    expect(decodeAwarenessUpdate(encodeAwarenessUpdate([]))).toEqual([]);
  });

  it("a state over the size given is skipped unread, and the entries after it still decode", () => {
    const big = JSON.stringify("x".repeat(300));
    const frame = encodeAwarenessUpdate([
      { clientID: 1, clock: 1, state: big },
      { clientID: 2, clock: 1, state: '{"a":1}' },
    ]);
    expect(decodeAwarenessUpdate(frame, 100)).toEqual([{ clientID: 2, clock: 1, state: '{"a":1}', bytes: 7 }]);
    expect(decodeAwarenessUpdate(frame)).toHaveLength(2);
    // A skipped length that runs past the end is still a malformed frame.
    expect(() => decodeAwarenessUpdate(frame.slice(0, 50), 100)).toThrow(YjsFrameError);
  });

  it("decoded payloads are copies: changing the frame afterwards does not change them", () => {
    const frame = encodeUpdate(bytes(1, 2, 3));
    const message = narrow(decodeYjsMessage(frame), "update");
    frame.fill(0);
    expect(message.update).toEqual(bytes(1, 2, 3));
  });

  it("decodes a frame that is a view into a larger buffer without reading outside the view", () => {
    const frame = encodeUpdate(bytes(1, 2, 3));
    const buffer = concat(bytes(9, 9), frame, bytes(9, 9));
    const view = buffer.subarray(2, 2 + frame.byteLength);
    expect(decodeYjsMessage(view)).toEqual({ type: "update", update: bytes(1, 2, 3) });
    // The view claims 3 bytes but holds only 2; the bytes after it in the buffer must not be read.
    const short = buffer.subarray(2, 2 + frame.byteLength - 1);
    expectFrameError(short);
  });
});

describe("interop: frames written by y-protocols decode with ours", () => {
  it("writeSyncStep1 → sync-step1 with the doc's state vector", () => {
    const doc = docWith({ a: 1 });
    const frame = lib0Frame((e) => {
      encoding.writeVarUint(e, MESSAGE_SYNC);
      syncProtocol.writeSyncStep1(e, doc);
    });
    expect(decodeYjsMessage(frame)).toEqual({ type: "sync-step1", stateVector: Y.encodeStateVector(doc) });
  });

  it("writeSyncStep2 → sync-step2 whose update brings another doc up to date", () => {
    const source = docWith({ a: 1, b: { nested: true } });
    const target = new Y.Doc();
    const frame = lib0Frame((e) => {
      encoding.writeVarUint(e, MESSAGE_SYNC);
      syncProtocol.writeSyncStep2(e, source, Y.encodeStateVector(target));
    });
    const message = narrow(decodeYjsMessage(frame), "sync-step2");
    Y.applyUpdate(target, message.update);
    expect(target.getMap("data").toJSON()).toEqual({ a: 1, b: { nested: true } });
  });

  it("writeUpdate → update with the same bytes", () => {
    const update = Y.encodeStateAsUpdate(docWith({ x: "y" }));
    const frame = lib0Frame((e) => {
      encoding.writeVarUint(e, MESSAGE_SYNC);
      syncProtocol.writeUpdate(e, update);
    });
    expect(decodeYjsMessage(frame)).toEqual({ type: "update", update });
  });

  it("y-protocols' encodeAwarenessUpdate → awareness entries with the clocks and JSON states", () => {
    const doc = new Y.Doc();
    const awareness = newAwareness(doc);
    awareness.setLocalState({ user: { name: "Ana", color: "#123456" }, cursor: null });
    awareness.setLocalStateField("user", { name: "Ana B", color: "#123456" });
    const frame = lib0Frame((e) => {
      encoding.writeVarUint(e, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]));
    });
    const message = narrow(decodeYjsMessage(frame), "awareness");
    const entries = decodeAwarenessUpdate(message.update);
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry?.clientID).toBe(doc.clientID);
    expect(entry?.clock).toBe(awareness.meta.get(doc.clientID)?.clock);
    expect(JSON.parse(entry?.state ?? "")).toEqual({ user: { name: "Ana B", color: "#123456" }, cursor: null });
  });

  it('a y-protocols removal decodes as state "null"', () => {
    const doc = new Y.Doc();
    const awareness = newAwareness(doc);
    awareness.setLocalState({ user: "a" });
    awareness.setLocalState(null);
    const clock = awareness.meta.get(doc.clientID)?.clock;
    expect(decodeAwarenessUpdate(awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]))).toEqual([
      { clientID: doc.clientID, clock, state: "null", bytes: 4 },
    ]);
  });

  it("a y-protocols update with several clients decodes every entry", () => {
    const a = newAwareness();
    const b = newAwareness();
    a.setLocalState({ n: 1 });
    b.setLocalState({ n: 2 });
    awarenessProtocol.applyAwarenessUpdate(a, awarenessProtocol.encodeAwarenessUpdate(b, [b.clientID]), "remote");
    const entries = decodeAwarenessUpdate(awarenessProtocol.encodeAwarenessUpdate(a, [a.clientID, b.clientID]));
    expect(entries.map((entry) => [entry.clientID, JSON.parse(entry.state)])).toEqual([
      [a.clientID, { n: 1 }],
      [b.clientID, { n: 2 }],
    ]);
  });
});

describe("interop: frames written by ours are read by y-protocols", () => {
  /** Reads one of our sync frames with readSyncMessage; returns the subtype and any reply. */
  function readWithYProtocols(frame: Uint8Array, doc: Y.Doc): { subtype: number; reply: Uint8Array } {
    const decoder = decoding.createDecoder(frame);
    expect(decoding.readVarUint(decoder)).toBe(MESSAGE_SYNC);
    const encoder = encoding.createEncoder();
    const subtype = syncProtocol.readSyncMessage(decoder, encoder, doc, "test");
    expect(decoding.hasContent(decoder)).toBe(false);
    return { subtype, reply: encoding.toUint8Array(encoder) };
  }

  it("sync step 1 is answered by y-protocols with the step 2 the state vector asks for", () => {
    const server = docWith({ a: 1, b: 2 });
    const client = new Y.Doc();
    const { subtype, reply } = readWithYProtocols(encodeSyncStep1(Y.encodeStateVector(client)), server);
    expect(subtype).toBe(syncProtocol.messageYjsSyncStep1);
    // y-protocols' reply has no message-type prefix: subtype 1, varbytes update.
    const decoder = decoding.createDecoder(reply);
    expect(decoding.readVarUint(decoder)).toBe(SYNC_STEP2);
    Y.applyUpdate(client, decoding.readVarUint8Array(decoder));
    expect(client.getMap("data").toJSON()).toEqual({ a: 1, b: 2 });
  });

  it("sync step 2 is applied to the doc by y-protocols", () => {
    const doc = new Y.Doc();
    const { subtype } = readWithYProtocols(encodeSyncStep2(Y.encodeStateAsUpdate(docWith({ s: "two" }))), doc);
    expect(subtype).toBe(syncProtocol.messageYjsSyncStep2);
    expect(doc.getMap("data").toJSON()).toEqual({ s: "two" });
  });

  it("update is applied to the doc by y-protocols", () => {
    const doc = new Y.Doc();
    const { subtype } = readWithYProtocols(encodeUpdate(Y.encodeStateAsUpdate(docWith({ u: [1] }))), doc);
    expect(subtype).toBe(syncProtocol.messageYjsUpdate);
    expect(doc.getMap("data").toJSON()).toEqual({ u: [1] });
  });

  it("awareness frames are applied by y-protocols' applyAwarenessUpdate", () => {
    const awareness = newAwareness();
    const frame = encodeAwareness(
      encodeAwarenessUpdate([
        { clientID: 1001, clock: 3, state: '{"user":{"name":"Bo"}}' },
        { clientID: 1002, clock: 1, state: '{"cursor":5}' },
      ]),
    );
    const decoder = decoding.createDecoder(frame);
    expect(decoding.readVarUint(decoder)).toBe(MESSAGE_AWARENESS);
    awarenessProtocol.applyAwarenessUpdate(awareness, decoding.readVarUint8Array(decoder), "remote");
    expect(decoding.hasContent(decoder)).toBe(false);
    expect(awareness.getStates().get(1001)).toEqual({ user: { name: "Bo" } });
    expect(awareness.getStates().get(1002)).toEqual({ cursor: 5 });
    expect(awareness.meta.get(1001)?.clock).toBe(3);
  });

  it("an awareness removal written by ours removes the client in y-protocols", () => {
    const awareness = newAwareness();
    awarenessProtocol.applyAwarenessUpdate(
      awareness,
      encodeAwarenessUpdate([{ clientID: 77, clock: 4, state: '{"a":1}' }]),
      "remote",
    );
    expect(awareness.getStates().has(77)).toBe(true);
    awarenessProtocol.applyAwarenessUpdate(
      awareness,
      encodeAwarenessUpdate([{ clientID: 77, clock: 5, state: "null" }]),
      "remote",
    );
    expect(awareness.getStates().has(77)).toBe(false);
  });

  it("permission denied is read by lib0 as y-protocols' auth message", () => {
    const decoder = decoding.createDecoder(encodePermissionDenied("no access to fund:f1"));
    expect(decoding.readVarUint(decoder)).toBe(MESSAGE_AUTH);
    expect(decoding.readVarUint(decoder)).toBe(0); // messagePermissionDenied
    expect(decoding.readVarString(decoder)).toBe("no access to fund:f1");
    expect(decoding.hasContent(decoder)).toBe(false);
  });
});

describe("unknown message types", () => {
  it("decode as {type: 'unknown'} with the type number, whatever follows", () => {
    expect(decodeYjsMessage(bytes(4))).toEqual({ type: "unknown", messageType: 4 });
    expect(decodeYjsMessage(bytes(7, 1, 2, 3))).toEqual({ type: "unknown", messageType: 7 });
    expect(decodeYjsMessage(bytes(0xac, 0x02, 0xff))).toEqual({ type: "unknown", messageType: 300 });
  });

  it("still refuse a truncated type number", () => {
    expectFrameError(bytes(0x80));
  });
});

describe("malformed frames throw YjsFrameError", () => {
  it("an empty frame", () => {
    expectFrameError(bytes());
  });

  it("a truncated varuint: message type, sync subtype, payload length", () => {
    expectFrameError(bytes(0x80));
    expectFrameError(bytes(0xff, 0xff));
    expectFrameError(bytes(MESSAGE_SYNC));
    expectFrameError(bytes(MESSAGE_SYNC, 0x80));
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_UPDATE));
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_UPDATE, 0x80));
    expectFrameError(bytes(MESSAGE_AWARENESS));
    expectFrameError(bytes(MESSAGE_AWARENESS, 0x81));
    expectFrameError(bytes(MESSAGE_AUTH));
    expectFrameError(bytes(MESSAGE_AUTH, 0));
  });

  it("an integer beyond 2^53", () => {
    expectFrameError(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
  });

  it("a length running past the end of the frame", () => {
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_STEP1, 3, 1, 2));
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_STEP2, 1));
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_UPDATE, 0xac, 0x02, 1, 2, 3));
    expectFrameError(bytes(MESSAGE_AWARENESS, 5, 1, 2, 3, 4));
    expectFrameError(bytes(MESSAGE_AUTH, 0, 4, 0x61, 0x62));
    // A huge claimed length must not be trusted either.
    expectFrameError(bytes(MESSAGE_SYNC, SYNC_UPDATE, 0xff, 0xff, 0xff, 0xff, 0x0f, 1));
  });

  it("trailing bytes after a complete message", () => {
    expectFrameError(concat(encodeSyncStep1(bytes(1)), bytes(0)));
    expectFrameError(concat(encodeSyncStep2(bytes(1)), bytes(0)));
    expectFrameError(concat(encodeUpdate(bytes(1)), bytes(9, 9)));
    expectFrameError(concat(encodeAwareness(encodeAwarenessUpdate([])), bytes(0)));
    expectFrameError(concat(encodePermissionDenied("x"), bytes(0)));
    expectFrameError(bytes(MESSAGE_QUERY_AWARENESS, 0));
  });

  it("an unknown sync subtype", () => {
    expectFrameError(bytes(MESSAGE_SYNC, 3, 0));
    expectFrameError(bytes(MESSAGE_SYNC, 0x80, 0x01, 0));
  });

  it("a reason that is not UTF-8", () => {
    expectFrameError(bytes(MESSAGE_AUTH, 0, 1, 0xff));
    expectFrameError(bytes(MESSAGE_AUTH, 0, 1, 0xc3)); // lone lead byte
    expectFrameError(bytes(MESSAGE_AUTH, 0, 3, 0xed, 0xa0, 0x80)); // an encoded surrogate
  });
});

describe("malformed awareness updates throw YjsFrameError", () => {
  const entry = (clientID: number, clock: number, stateBytes: Uint8Array): Uint8Array =>
    lib0Frame((e) => {
      encoding.writeVarUint(e, clientID);
      encoding.writeVarUint(e, clock);
      encoding.writeVarUint8Array(e, stateBytes);
    });

  it("an empty update", () => {
    expectFrameError(bytes(), decodeAwarenessUpdate);
  });

  it("fewer entries than the count says", () => {
    expectFrameError(concat(bytes(2), entry(1, 1, utf8("{}"))), decodeAwarenessUpdate);
  });

  it("a truncated entry or varuint", () => {
    expectFrameError(bytes(1, 0x80), decodeAwarenessUpdate);
    expectFrameError(bytes(1, 5), decodeAwarenessUpdate);
    expectFrameError(bytes(1, 5, 0x80), decodeAwarenessUpdate);
    expectFrameError(bytes(1, 5, 1), decodeAwarenessUpdate);
  });

  it("a state length running past the end", () => {
    expectFrameError(bytes(1, 5, 1, 10, 0x7b, 0x7d), decodeAwarenessUpdate);
  });

  it("trailing bytes after the entries", () => {
    expectFrameError(
      concat(encodeAwarenessUpdate([{ clientID: 1, clock: 1, state: "{}" }]), bytes(0)),
      decodeAwarenessUpdate,
    );
    expectFrameError(bytes(0, 0), decodeAwarenessUpdate);
  });

  it("a state that is not UTF-8", () => {
    expectFrameError(concat(bytes(1), entry(1, 1, bytes(0x22, 0xff, 0x22))), decodeAwarenessUpdate);
  });

  it("a state that is not JSON", () => {
    for (const state of ["", "{", "undefined", "{'a':1}", "{} {}", "NaN"]) {
      expectFrameError(concat(bytes(1), entry(1, 1, utf8(state))), decodeAwarenessUpdate);
    }
  });

  it("one bad entry among good ones fails the whole update", () => {
    const update = concat(bytes(2), entry(1, 1, utf8("{}")), entry(2, 1, utf8("{")));
    expectFrameError(update, decodeAwarenessUpdate);
  });
});
