import { describe, expect, it } from "vitest";
import { CLOSE_CODES, ProtocolError } from "../../../src/protocol/errors";
import { MESSAGE_BURST } from "../../../src/protocol/limits";
import { asRefusal, type InboundWire, Malformed, receive } from "../../../src/socket-host/inbound";
import { MessageRateLimiter } from "../../../src/socket-host/rate-limiter";
import { expectLogs } from "../../helpers/expected-logs";

interface Socket {
  rate: MessageRateLimiter;
  inbox: Promise<void>;
  expiresAt: number;
}

type Command = { kind: "run" | "renew" | "fail" | "bug"; text: string };

/** A wire whose frames are `kind:text`; it records what the client was told. */
function fakeWire(maxFrameBytes: number | null = 16) {
  const told: string[] = [];
  const wire: InboundWire<Socket, string, Command> = {
    maxFrameBytes,
    expiresAt: (socket) => socket.expiresAt,
    decode: (_socket, frame) => {
      const [kind, text = ""] = frame.split(":");
      if (kind !== "run" && kind !== "renew" && kind !== "fail" && kind !== "bug") {
        return new Malformed(new ProtocolError("invalid_message", "bad frame"));
      }
      return { kind, text };
    },
    needsToken: (command) => command.kind !== "renew",
    run: async (_socket, command) => {
      if (command.kind === "fail")
        throw new ProtocolError("invalid_subscription", "no", { details: { issue: "invalid_field" } });
      if (command.kind === "bug") throw new TypeError("a bug");
      told.push(`ran ${command.text}`);
    },
    refuse: (_socket, error, command) =>
      told.push(
        `refused ${error.code}${error.details?.issue ? `/${error.details.issue}` : ""} ${command?.text ?? "-"}`,
      ),
    expire: () => told.push("expired"),
    close: (_socket, code) => told.push(`closed ${code}`),
  };
  return { told, wire };
}

const socket = (expiresAt = Number.POSITIVE_INFINITY): Socket => ({
  rate: new MessageRateLimiter(0),
  inbox: Promise.resolve(),
  expiresAt,
});

describe("the inbound pipeline", () => {
  it("handles frames in arrival order", async () => {
    const { told, wire } = fakeWire();
    const s = socket();
    void receive(wire, s, "run:a", 0);
    void receive(wire, s, "run:b", 0);
    await receive(wire, s, "run:c", 0);
    expect(told).toEqual(["ran a", "ran b", "ran c"]);
  });

  it("refuses a frame over the size limit with frame_too_large, then closes with message_too_big", async () => {
    const { told, wire } = fakeWire(8);
    await receive(wire, socket(), "run:0123456789", 0);
    expect(told).toEqual(["refused invalid_message/frame_too_large -", `closed ${CLOSE_CODES.message_too_big}`]);
  });

  it("measures a binary frame by its bytes: over the limit, refused and closed the same way", async () => {
    const told: string[] = [];
    const wire: InboundWire<Socket, ArrayBuffer, number> = {
      maxFrameBytes: 8,
      expiresAt: (s) => s.expiresAt,
      decode: (_socket, frame) => frame.byteLength,
      needsToken: () => true,
      run: async (_socket, bytes) => {
        told.push(`ran ${bytes}`);
      },
      refuse: (_socket, error) => told.push(`refused ${error.details?.issue}`),
      expire: () => told.push("expired"),
      close: (_socket, code) => told.push(`closed ${code}`),
    };
    await receive(wire, socket(), new ArrayBuffer(8), 0);
    await receive(wire, socket(), new ArrayBuffer(9), 0);
    expect(told).toEqual(["ran 8", "refused frame_too_large", `closed ${CLOSE_CODES.message_too_big}`]);
  });

  it("refuses past the burst with rate_limited", async () => {
    const { told, wire } = fakeWire();
    const s = socket();
    for (let i = 0; i <= MESSAGE_BURST; i++) await receive(wire, s, `run:${i}`, 0);
    expect(told.at(-1)).toBe("refused invalid_message/rate_limited -");
    expect(told.filter((line) => line.startsWith("ran"))).toHaveLength(MESSAGE_BURST);
  });

  it("an expired socket is told once, however many frames were queued behind the first", async () => {
    const { told, wire } = fakeWire();
    const s = socket(Date.now() - 1);
    void receive(wire, s, "run:a", 0);
    void receive(wire, s, "run:b", 0);
    await receive(wire, s, "run:c", 0);
    expect(told).toEqual(["expired"]);
  });

  it("an expired token ends the socket, except for a command that renews it", async () => {
    const { told, wire } = fakeWire();
    const s = socket(Date.now() - 1);
    await receive(wire, s, "renew:token", 0);
    await receive(wire, s, "run:after", 0);
    expect(told).toEqual(["ran token", "expired"]);
  });

  it("a decoding failure is refused; a ProtocolError as is; anything else as server_error", async () => {
    const logs = expectLogs(/server_error/);
    const { told, wire } = fakeWire();
    const s = socket();
    await receive(wire, s, "what", 0);
    await receive(wire, s, "fail:f", 0);
    await receive(wire, s, "bug:b", 0);
    await receive(wire, s, "run:still", 0);
    expect(told).toEqual([
      "refused invalid_message -",
      "refused invalid_subscription/invalid_field f",
      "refused server_error b",
      "ran still",
    ]);
    expect(logs.lines(), "the unexpected error is logged, once").toHaveLength(1);
  });

  it("asRefusal keeps a ProtocolError and wraps anything else as server_error", () => {
    const logs = expectLogs(/server_error/);
    const refusal = new ProtocolError("authorization_error", "no");
    expect(asRefusal(refusal, "test")).toBe(refusal);
    const wrapped = asRefusal(new Error("boom"), "test");
    expect(wrapped).toMatchObject({ code: "server_error", message: "Internal server error" });
    expect(logs.lines()).toHaveLength(1);
  });
});
