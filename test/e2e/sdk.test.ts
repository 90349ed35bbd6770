/**
 * The client SDK (client/src) against a real `wrangler dev`: reconnection after the server drops
 * the socket, resumption without loss or duplicates across a restart of the runtime, token
 * refresh before expiry, typed errors, and editing sessions.
 */
import { execFile, execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createClient, type EquihomeClient, EquihomeError, type EventMeta } from "../../client/src/index";
import { signExpiringToken, signToken, type TestClaims } from "../helpers/tokens";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { publish } from "./helpers/ingest";
import { waitFor } from "./helpers/wait";

let server: DevServer;
const clients: EquihomeClient[] = [];

beforeAll(async () => {
  server = await startDevServer();
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await server?.stop();
});

/** A client of the run's server; closed after the test. Backoff kept short so tests stay quick. */
function connect(token: string | (() => Promise<string>)): EquihomeClient {
  const client = createClient({
    url: `${server.wsUrl}/v1/ws`,
    token,
    backoff: { baseMs: 100, maxMs: 1_000 },
    requestTimeoutMs: 10_000,
  });
  clients.push(client);
  return client;
}

/** Everything a client reports, in order, for assertions and for failure messages. */
function record(client: EquihomeClient) {
  const log: string[] = [];
  client.on("open", () => log.push("open"));
  client.on("close", (info) => log.push(`close ${info.code} ${info.reason} reconnecting=${info.reconnecting}`));
  client.on("reload", (info) => log.push(`reload ${info.channel} ${info.key} ${info.seq}`));
  client.on("error", (error) => log.push(`error ${error.code} ${error.message}`));
  client.on("token_refreshed", () => log.push("token_refreshed"));
  client.on("unsubscribed", (info) => log.push(`unsubscribed ${info.channel} ${info.reason}`));
  return log;
}

const progress = (simulation_id: string, value: number) => ({
  event: "simulation_progress",
  data: { simulation_id, progress: value, status: "running" },
});

const notification = (n: number) => ({
  event: "notification",
  data: { type: "info", message: `note ${n}`, timestamp: "2026-01-01T00:00:00Z" },
});

/** A token of the run whose access ends 0.8-1 s from now (signExpiringToken with the run's secret). */
const expiringToken = (claims: TestClaims) => signExpiringToken(claims, server.secret);

/** A token provider that counts its calls and, while `hold` is set, does not answer. */
function provider(claims: TestClaims = {}, first?: () => Promise<string>) {
  let gate: { promise: Promise<void>; open(): void } | undefined;
  const state = {
    calls: 0,
    get waiting() {
      return gate !== undefined && waitingCalls > 0;
    },
    hold() {
      let open = () => {};
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = undefined;
    },
    token: async (): Promise<string> => {
      state.calls++;
      if (gate) {
        waitingCalls++;
        await gate.promise;
        waitingCalls--;
      }
      if (state.calls === 1 && first) return first();
      return signToken(claims, server.secret);
    },
  };
  let waitingCalls = 0;
  return state;
}

describe("client SDK: requests and typed errors", () => {
  it("subscribes, and delivers typed events with their seq", async () => {
    const client = connect(await server.sign({ sub: "sdk-typed" }));
    const received: { progress: number; meta: EventMeta }[] = [];
    client.on("simulation_progress", (data, meta) => received.push({ progress: data.progress, meta }));
    const subscription = await client.subscribe({ channel: "simulation_updates", simulation_id: "sdk_sim_typed" });
    expect(subscription.lastSeq).toBe(0);
    await publish(server, [progress("sdk_sim_typed", 10), progress("sdk_sim_typed", 20)]);
    await waitFor("two progress events", () => (received.length >= 2 ? true : undefined));
    expect(received.map((entry) => [entry.progress, entry.meta.seq])).toEqual([
      [10, 1],
      [20, 2],
    ]);
    expect(received[0]?.meta).toMatchObject({ channel: "simulation_updates", key: "sdk_sim_typed" });
    expect(await client.ping()).toBeTypeOf("number");
  });

  it("paces its frames under the server's rate limit: 200 requests at once all succeed", async () => {
    const client = connect(await server.sign({ sub: "sdk-burst" }));
    const log = record(client);
    const subscriptions = Array.from({ length: 20 }, (_, n) =>
      client.subscribe({ channel: "simulation_updates", simulation_id: `sdk_burst_${n}` }),
    );
    const pings = Array.from({ length: 180 }, () => client.ping());
    const results = await Promise.allSettled([...subscriptions, ...pings]);
    const refused = results.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
    expect(refused).toEqual([]);
    expect(log.filter((line) => line.startsWith("error") || line.startsWith("close"))).toEqual([]);
  });

  it("rejects a subscription the token does not reach with authorization_error", async () => {
    const client = connect(await server.sign({ sub: "sdk-forbidden", resources: ["simulation:sdk_allowed"] }));
    const error = await client.subscribe({ channel: "simulation_updates", simulation_id: "sdk_not_allowed" }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(EquihomeError);
    expect(error).toMatchObject({
      code: "authorization_error",
      details: { channel: "simulation_updates", resource: "simulation:sdk_not_allowed" },
    });
    // The refusal leaves the client usable.
    await client.subscribe({ channel: "simulation_updates", simulation_id: "sdk_allowed" });
  });

  it("rejects bad subscription parameters with invalid_subscription", async () => {
    const client = connect(await server.sign({ sub: "sdk-invalid" }));
    const error = await client.subscribe({ channel: "simulation_updates", simulation_id: "" }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({
      code: "invalid_subscription",
      message: "Invalid subscription parameters",
      details: {
        channel: "simulation_updates",
        issue: "invalid_field",
        field: "simulation_id",
        hint: "Invalid simulation_id: must not be empty",
      },
    });
  });

  it("rejects an edit without the edit scope with authorization_error", async () => {
    const client = connect(await server.sign({ sub: "sdk-viewer" }));
    const session = await client.startEditing({ resource_type: "fund", resource_id: "sdk_fund_viewer" });
    const error = await session.set("name", "x").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: "authorization_error", details: { scope: "edit" } });
    await session.stop();
  });
});

describe("client SDK: editing", () => {
  it("keeps two sessions' documents and editors current; set resolves on the acknowledgement", async () => {
    const ann = connect(await server.sign({ sub: "sdk-ann", email: "ann@example.com", scope: "edit" }));
    const bo = connect(await server.sign({ sub: "sdk-bo", email: "bo@example.com", scope: "edit" }));
    const resource = { resource_type: "fund", resource_id: "sdk_fund_1" } as const;
    const annSession = await ann.startEditing(resource);
    expect(annSession.document).toEqual({});
    const boSession = await bo.startEditing(resource);
    expect(boSession.editors.map((editor) => editor.user_id)).toEqual(["sdk-ann", "sdk-bo"]);
    await waitFor("ann sees bo among the editors", () =>
      annSession.editors.some((editor) => editor.user_id === "sdk-bo") ? true : undefined,
    );

    const { seq } = await annSession.set("fee_structure.management_fee_rate", 0.02);
    expect(seq).toBe(1);
    // Resolved on the acknowledgement: the sender's copy already has the edit.
    expect(annSession.document).toEqual({ fee_structure: { management_fee_rate: 0.02 } });
    await waitFor("bo's copy has the edit", () =>
      JSON.stringify(boSession.document) === JSON.stringify(annSession.document) ? true : undefined,
    );
    await boSession.set("name", "Fund I");
    await waitFor("ann's copy has bo's edit", () => (annSession.document.name === "Fund I" ? true : undefined));

    await boSession.stop();
    await waitFor("ann sees bo leave", () =>
      annSession.editors.some((editor) => editor.user_id === "sdk-bo") ? undefined : true,
    );
    await annSession.stop();
  });
});

describe("client SDK: reconnection and tokens", () => {
  it("reconnects after the server closes the socket at the token's expiry, and keeps its subscriptions", async () => {
    // The first token's access ends within a second, before the client's first refresh (1 s at
    // the soonest): the server closes the socket with 4401; the provider gives the next one.
    const tokens = provider({ sub: "sdk-expiring" }, () => expiringToken({ sub: "sdk-expiring" }));
    const client = connect(tokens.token);
    const log = record(client);
    const notes: string[] = [];
    client.on("notification", (data) => notes.push(data.message));
    const subscription = await client.subscribe({ channel: "system_notifications" });
    const before = subscription.lastSeq ?? 0;
    await waitFor(
      "the server's 4401 close and a new connection",
      () =>
        log.some((line) => line.startsWith("close 4401")) && log.filter((line) => line === "open").length >= 2
          ? true
          : undefined,
      20_000,
      () => `\nlog: ${JSON.stringify(log)}`,
    );
    expect(log).toContain("close 4401 token expired reconnecting=true");
    expect(tokens.calls).toBeGreaterThanOrEqual(2);
    await waitFor("resubscribed", () => (client.connected ? true : undefined));
    await publish(server, notification(1));
    await waitFor(
      "the notification after the reconnect",
      () => (notes.includes("note 1") ? true : undefined),
      10_000,
      () => `\nlog: ${JSON.stringify(log)}`,
    );
    expect(subscription.lastSeq).toBeGreaterThan(before);
    expect(log.filter((line) => line.startsWith("reload"))).toEqual([]);
  });

  it("reopens an editing session after a drop: the document is read again and edits made meanwhile are in it", async () => {
    const tokens = provider({ sub: "sdk-editor", email: "ed@example.com", scope: "edit" }, () =>
      expiringToken({ sub: "sdk-editor", email: "ed@example.com", scope: "edit" }),
    );
    const client = connect(tokens.token);
    const log = record(client);
    const session = await client.startEditing({ resource_type: "fund", resource_id: "sdk_fund_drop" });
    const reloads: unknown[] = [];
    session.on("reload", (document) => reloads.push(structuredClone(document)));
    // The next connection waits for the provider: the edit below is made while the client is away.
    tokens.hold();
    // (A refresh before the close asks the provider too, so wait for the close itself; the
    // reconnection cannot complete before the provider answers.)
    await waitFor(
      "the server's 4401 close",
      () => (log.some((line) => line.startsWith("close 4401")) ? true : undefined),
      20_000,
      () => `\nlog: ${JSON.stringify(log)}`,
    );
    expect(client.connected).toBe(false);
    await publish(server, {
      event: "resource_updated",
      data: {
        resource_type: "fund",
        resource_id: "sdk_fund_drop",
        path: "name",
        value: "Renamed",
        updated_by: "engine",
      },
    });
    tokens.release();
    await waitFor(
      "the session read again",
      () => (reloads.length > 0 ? true : undefined),
      20_000,
      () => `\nlog: ${JSON.stringify(log)}`,
    );
    expect(reloads[0]).toEqual({ name: "Renamed" });
    expect(session.document).toEqual({ name: "Renamed" });
    // The session is open on the new socket: an edit is acknowledged.
    await session.set("name", "Renamed again");
    expect(session.document).toEqual({ name: "Renamed again" });
    await session.stop();
  });

  it("refreshes the token on the open socket before it expires", async () => {
    // The first token's access ends about 3 s after it is signed (exp 27 s ago, 30 s of tolerance).
    let firstAccessEnds = 0;
    const tokens = provider({ sub: "sdk-refresh" }, async () => {
      const token = await signToken({ sub: "sdk-refresh", ttl: -27 }, server.secret);
      firstAccessEnds = (Math.floor(Date.now() / 1000) - 27 + 30) * 1000;
      return token;
    });
    const client = connect(tokens.token);
    const log = record(client);
    await client.subscribe({ channel: "system_notifications" });
    await waitFor(
      "token_refreshed",
      () => (log.includes("token_refreshed") ? true : undefined),
      10_000,
      () => `\nlog: ${JSON.stringify(log)}`,
    );
    expect(tokens.calls).toBe(2);
    // Past the first token's end of access (plus a margin for the server's alarm), the same
    // socket still answers: no close, no new connection.
    await waitFor(
      "the first token's access to end",
      () => (Date.now() > firstAccessEnds + 1_500 ? true : undefined),
      10_000,
    );
    expect(await client.ping()).toBeTypeOf("number");
    expect(log.filter((line) => line.startsWith("close") || line === "open")).toEqual(["open"]);
    expect(tokens.calls).toBe(2);
  });

  it("resumes without loss or duplicates across a restart of the runtime", async () => {
    const tokens = provider({ sub: "sdk-restart" });
    const client = connect(tokens.token);
    const log = record(client);
    const seen: string[] = [];
    client.on("simulation_progress", (data, meta) => seen.push(`sim ${meta.seq} ${data.progress}`));
    client.on("notification", (data, meta) => seen.push(`note ${meta.seq} ${data.message}`));
    const simulation = await client.subscribe({ channel: "simulation_updates", simulation_id: "sdk_sim_restart" });
    const notifications = await client.subscribe({ channel: "system_notifications" });
    const noteBase = notifications.lastSeq ?? 0;

    await publish(server, [progress("sdk_sim_restart", 1), progress("sdk_sim_restart", 2), notification(101)]);
    await waitFor(
      "the first events",
      () => (seen.length >= 3 ? true : undefined),
      10_000,
      () => `\nseen: ${JSON.stringify(seen)}`,
    );

    // The client cannot reconnect until the provider answers: events published meanwhile are
    // published while it is disconnected.
    tokens.hold();
    await server.restart();
    await waitFor("the client to notice", () => (!client.connected && tokens.waiting ? true : undefined), 30_000);
    await publish(server, [progress("sdk_sim_restart", 3), notification(102), progress("sdk_sim_restart", 4)]);
    await publish(server, [notification(103), progress("sdk_sim_restart", 5)]);
    tokens.release();

    await waitFor(
      "every event after the reconnect",
      () => (seen.length >= 8 ? true : undefined),
      30_000,
      () => `\nseen: ${JSON.stringify(seen)}\nlog: ${JSON.stringify(log)}`,
    );
    // Then one more live event, so that a late duplicate would have arrived before it.
    await publish(server, progress("sdk_sim_restart", 6));
    await waitFor(
      "the live event",
      () => (seen.includes("sim 6 6") ? true : undefined),
      10_000,
      () => `\nseen: ${JSON.stringify(seen)}`,
    );

    const sims = seen.filter((line) => line.startsWith("sim"));
    const notes = seen.filter((line) => line.startsWith("note"));
    expect(sims).toEqual(["sim 1 1", "sim 2 2", "sim 3 3", "sim 4 4", "sim 5 5", "sim 6 6"]);
    expect(notes).toEqual([
      `note ${noteBase + 1} note 101`,
      `note ${noteBase + 2} note 102`,
      `note ${noteBase + 3} note 103`,
    ]);
    expect(log.filter((line) => line.startsWith("reload"))).toEqual([]);
    expect(log.filter((line) => line === "open").length).toBe(2);
    expect(simulation.lastSeq).toBe(6);
  });
});

describe("client SDK: the built package entry", () => {
  it("is importable as realtime-edge/client from Node after npm run build:client", async () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const scripts = (JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { scripts: Record<string, string> })
      .scripts;
    execSync(scripts["build:client"] ?? "false", {
      cwd: root,
      env: { ...process.env, PATH: `${root}node_modules/.bin:${process.env.PATH ?? ""}` },
      stdio: "pipe",
      timeout: 60_000,
    });
    // A separate Node process (no test transform), importing the package by name from inside it.
    const script = `
      import { createClient } from "realtime-edge/client";
      const client = createClient({ url: process.env.SDK_URL, token: async () => process.env.SDK_TOKEN });
      const subscription = await client.subscribe({ channel: "simulation_updates", simulation_id: "sdk_sim_built" });
      console.log(JSON.stringify({ lastSeq: subscription.lastSeq, pong: typeof (await client.ping()) }));
      client.close();
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
      env: { ...process.env, SDK_URL: `${server.wsUrl}/v1/ws`, SDK_TOKEN: await server.sign({ sub: "sdk-built" }) },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({ lastSeq: 0, pong: "number" });
  });
});
