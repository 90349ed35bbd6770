/**
 * The Equihome seed's own client code, run unmodified in Node against a real `wrangler dev`:
 * what the seed promises its users is what this service delivers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSeedClient } from "../../examples/equihome/seed-client.js";
import { signToken } from "../helpers/tokens";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { publish } from "./helpers/ingest";
import { waitFor } from "./helpers/wait";

interface Frame {
  event: string;
  data: Record<string, unknown>;
  id?: string | number;
  seq?: number;
}

/** One call the seed's client made to something the test injected, in the order made. */
type Call =
  | { fn: "updateProgressBar"; args: [number] }
  | { fn: "showResults"; args: [unknown] }
  | { fn: "console.log" | "console.error"; args: unknown[] };

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});

afterAll(async () => {
  await server?.stop();
});

/** Runs the seed's client with observable stand-ins for what it calls but does not define. */
function runSeedClient(token: string) {
  const calls: Call[] = [];
  const frames: Frame[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  const intervalHandlers: (() => void)[] = [];
  let closed: { code: number; reason: string } | undefined;
  const socket = startSeedClient({
    wsOrigin: server.wsUrl,
    token,
    updateProgressBar: (progress) => calls.push({ fn: "updateProgressBar", args: [progress] }),
    showResults: (summary) => calls.push({ fn: "showResults", args: [summary] }),
    console: {
      log: (...args) => calls.push({ fn: "console.log", args }),
      error: (...args) => calls.push({ fn: "console.error", args }),
    },
    setInterval: (handler, ms) => {
      const timer = setInterval(handler, ms);
      timers.push(timer);
      intervalHandlers.push(handler);
      return timer;
    },
  });
  // The test's own listeners, beside the seed's: the raw frames (for `seq`) and the close code.
  socket.addEventListener("message", (event) => frames.push(JSON.parse(String(event.data)) as Frame));
  socket.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
  });
  const state = () => `\ncalls: ${JSON.stringify(calls)}\nframes: ${JSON.stringify(frames)}`;
  return {
    socket,
    calls,
    frames,
    closed: () => closed,
    /** Waits until the seed's client has logged `message` (via the injected console.log). */
    logged: (message: string) =>
      waitFor(
        `console.log(${JSON.stringify(message)})`,
        () => calls.find((call) => call.fn === "console.log" && call.args[0] === message),
        10_000,
        state,
      ),
    waitClosed: () => waitFor("close", () => closed, 10_000, state),
    /** Runs the seed's 30 s keep-alive now instead of waiting for it. */
    tickPingInterval: () => {
      for (const handler of intervalHandlers) handler();
    },
    dispose: () => {
      for (const timer of timers) clearInterval(timer);
      socket.close();
    },
  };
}

describe("the Equihome seed's client-side implementation", () => {
  it("subscribes, then shows progress and results published through /v1/ingest", async () => {
    const client = runSeedClient(await server.sign({ sub: "seed-user", email: "analyst@equihome.test" }));
    try {
      await client.logged("Subscribed to simulation_updates");
      const subscribed = client.frames.find((frame) => frame.event === "subscribed");
      expect(subscribed).toMatchObject({
        event: "subscribed",
        id: "msg_1",
        data: { channel: "simulation_updates", simulation_id: "simulation_789" },
      });

      // The seed's server example's shapes; one event alone, then one as a batch.
      const progress = {
        event: "simulation_progress",
        data: {
          simulation_id: "simulation_789",
          progress: 45,
          status: "processing",
          message: "Processing scenario 450/1000",
          estimated_completion_time: "2023-01-01T00:05:00Z",
        },
      };
      const summary = { mean_irr: 0.13, median_irr: 0.12, irr_std_dev: 0.02 };
      const completed = {
        event: "simulation_completed",
        data: { simulation_id: "simulation_789", status: "completed", summary },
      };
      const [first] = await publish(server, progress);
      const [second] = await publish(server, [completed]);
      expect(first).toMatchObject({
        event: "simulation_progress",
        channel: "simulation_updates",
        key: "simulation_789",
        seq: 1,
      });
      expect(second).toMatchObject({
        event: "simulation_completed",
        channel: "simulation_updates",
        key: "simulation_789",
        seq: 2,
      });

      await client.logged("Simulation completed");
      expect(client.calls).toEqual([
        { fn: "console.log", args: ["Connected to WebSocket server"] },
        { fn: "console.log", args: ["Subscribed to simulation_updates"] },
        { fn: "updateProgressBar", args: [45] },
        { fn: "console.log", args: ["Simulation progress: 45%"] },
        { fn: "showResults", args: [summary] },
        { fn: "console.log", args: ["Simulation completed"] },
      ]);
      const updates = client.frames.filter((frame) => frame.event !== "subscribed");
      expect(updates).toEqual([
        { ...progress, seq: 1 },
        { ...completed, seq: 2 },
      ]);

      // The seed's keep-alive: its ping (msg_2) is answered by a pong carrying that id, which the
      // seed's switch logs under `default`.
      client.tickPingInterval();
      const pong = await waitFor(
        "pong",
        () => client.frames.find((frame) => frame.event === "pong"),
        10_000,
        () => ` frames: ${JSON.stringify(client.frames)}`,
      );
      expect(pong).toMatchObject({ event: "pong", id: "msg_2", data: { timestamp: expect.any(Number) } });
      expect(client.calls.at(-1)).toEqual({
        fn: "console.log",
        args: ["Received event: pong", pong.data],
      });

      client.socket.close(1000, "done");
      await client.logged("Disconnected from WebSocket server");
      expect(client.calls.filter((call) => call.fn === "console.error")).toEqual([]);
    } finally {
      client.dispose();
    }
  });
});

describe("an unauthenticated connection", () => {
  it("without a token: the upgrade succeeds, then one authentication_error and close 4401", async () => {
    const socket = new WebSocket(`${server.wsUrl}/v1/ws`);
    const frames: Frame[] = [];
    let closed: { code: number; reason: string } | undefined;
    socket.addEventListener("message", (event) => frames.push(JSON.parse(String(event.data)) as Frame));
    socket.addEventListener("close", (event) => {
      closed = { code: event.code, reason: event.reason };
    });
    try {
      const { code } = await waitFor(
        "close",
        () => closed,
        10_000,
        () => ` frames: ${JSON.stringify(frames)}`,
      );
      expect(code).toBe(4401);
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatchObject({ event: "error", data: { code: "authentication_error" } });
      expect(typeof frames[0]?.data.message).toBe("string");
    } finally {
      socket.close();
    }
  });

  it("the seed's client with a token signed by another secret reports the error and is closed with 4401", async () => {
    const client = runSeedClient(await signToken({ sub: "seed-user" }, "not-the-secret-of-this-server"));
    try {
      const { code } = await client.waitClosed();
      expect(code).toBe(4401);
      expect(client.frames).toHaveLength(1);
      expect(client.frames[0]).toMatchObject({ event: "error", data: { code: "authentication_error" } });
      await client.logged("Disconnected from WebSocket server");
      const errors = client.calls.filter((call) => call.fn === "console.error");
      expect(errors).toEqual([{ fn: "console.error", args: [`Error: ${client.frames[0]?.data.message}`] }]);
      expect(client.calls.some((call) => call.fn === "updateProgressBar" || call.fn === "showResults")).toBe(false);
    } finally {
      client.dispose();
    }
  });
});
