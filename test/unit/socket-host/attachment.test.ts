import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { AttachmentKind } from "../../../src/socket-host/attachment";

/** A WebSocket's attachment slot, as the runtime keeps it (a structured clone). */
function fakeWebSocket(initial?: unknown) {
  let stored: unknown = initial === undefined ? undefined : structuredClone(initial);
  return {
    serializeAttachment: (value: unknown) => {
      stored = structuredClone(value);
    },
    deserializeAttachment: () => stored,
  } as unknown as WebSocket;
}

const kind = new AttachmentKind("test.kind", 2, v.object({ id: v.string(), n: v.number() }));

describe("AttachmentKind", () => {
  it("reads back what it wrote, in its namespace and version", () => {
    const ws = fakeWebSocket();
    kind.write(ws, { id: "a", n: 1 });
    expect(ws.deserializeAttachment()).toEqual({ ns: "test.kind", v: 2, data: { id: "a", n: 1 } });
    expect(kind.read(ws)).toEqual({ id: "a", n: 1 });
  });

  it("refuses an attachment of another namespace, another version, another shape, or none", () => {
    for (const attachment of [
      { ns: "other.kind", v: 2, data: { id: "a", n: 1 } },
      { ns: "test.kind", v: 1, data: { id: "a", n: 1 } },
      { ns: "test.kind", v: 2, data: { id: "a" } },
      { v: 1, id: "a", protocol: "json" },
      null,
    ]) {
      expect(kind.read(fakeWebSocket(attachment)), JSON.stringify(attachment)).toBeNull();
    }
    expect(kind.read(fakeWebSocket())).toBeNull();
  });
});
