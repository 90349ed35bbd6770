/**
 * The seeds' browser clients in a real Chromium (Debian's, driven by playwright-core), against
 * a real `wrangler dev`, from pages on another origin (a static server on another loopback port),
 * as an app's pages would be (issue 10, sections 2 and 3):
 *
 * 1. the QuantEnergx seed's React hook `useQuantEnergxWebSocket`, verbatim
 *    (examples/react/use-quantenergx-websocket.ts), rendered by fixtures/browser/hook-page.tsx with
 *    React, on socket.io-client's default transports: polling, then the upgrade to WebSocket;
 *    what /v1/ingest publishes, as the hook's state holds it; connected across several ping
 *    intervals; and `ALLOWED_ORIGINS` unset, set to the page's origin, and set to another;
 * 2. the Equihome seed's browser client (examples/equihome/seed-client.js) on a page of its own
 *    (fixtures/browser/equihome-page.tsx): subscribe, progress, ping and pong.
 *
 * Pages are bundled with esbuild (no CDN). Two dev servers: `open` (ALLOWED_ORIGINS unset) and
 * `restricted` (ALLOWED_ORIGINS = the origin of `pages`); `otherPages` serves the same pages from
 * an origin `restricted` does not allow. A screenshot of the hook's page goes to
 * test/e2e/artifacts/ (git-ignored).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { marketUpdate, orderUpdate, systemAlert, tradeUpdate } from "../fixtures/quantenergx-events";
import type { EquihomeProbe, HookProbe } from "./fixtures/browser/probe";
import {
  type Bundle,
  bundlePages,
  launchChromium,
  newContext,
  type StaticServer,
  startStaticServer,
} from "./helpers/browser";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { publish } from "./helpers/ingest";
import { waitForAsync } from "./helpers/wait";

const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/browser/${name}`, import.meta.url));

let bundle: Bundle | undefined;
let pages: StaticServer | undefined;
let otherPages: StaticServer | undefined;
let open: DevServer | undefined;
let restricted: DevServer | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  bundle = await bundlePages({ hook: fixture("hook-page.tsx"), equihome: fixture("equihome-page.tsx") });
  pages = await startStaticServer(bundle);
  otherPages = await startStaticServer(bundle);
  const allowed = pages.origin;
  // Both at once: each start is mostly waiting for workerd.
  const [first, second] = await Promise.allSettled([
    startDevServer(),
    startDevServer({ vars: { ALLOWED_ORIGINS: allowed } }),
  ]);
  if (first.status === "fulfilled") open = first.value;
  if (second.status === "fulfilled") restricted = second.value;
  if (first.status === "rejected") throw first.reason;
  if (second.status === "rejected") throw second.reason;
  browser = await launchChromium();
});

afterEach(async () => {
  // Each test's pages go with it: their sockets do not outlive the test.
  for (const context of contexts.splice(0)) await context.close().catch(() => {});
});

afterAll(async () => {
  // Everything, whatever happened; the first error is reported after the rest is closed.
  const steps: (() => Promise<void> | void)[] = [
    async () => {
      for (const context of contexts.splice(0)) await context.close().catch(() => {});
    },
    () => browser?.close(),
    () => pages?.close(),
    () => otherPages?.close(),
    () => open?.stop(),
    () => restricted?.stop(),
    () => bundle?.remove(),
  ];
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
});

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
/** A price no other test publishes. */
const uniquePrice = () => Number((50 + Math.random() * 50).toFixed(4));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const must = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what} did not start (see beforeAll)`);
  return value;
};

/** What a page did on the network and in its console, recorded by playwright. */
interface NetworkLog {
  /** Engine.IO requests to the dev server: URL, the `Origin` the browser sent, the answer. */
  requests: { url: string; method: string; origin: string | undefined }[];
  responses: { url: string; status: number; allowOrigin: string | undefined }[];
  failed: string[];
  websockets: string[];
  console: string[];
  pageErrors: string[];
}

async function openPage(origin: string, path: string): Promise<{ page: Page; network: NetworkLog }> {
  const context = await newContext(must(browser, "Chromium"));
  contexts.push(context);
  const page = await context.newPage();
  const network: NetworkLog = { requests: [], responses: [], failed: [], websockets: [], console: [], pageErrors: [] };
  const watched = (url: string) => url.includes("/socket.io/") || url.includes("/v1/");
  page.on("request", (request) => {
    if (!watched(request.url())) return;
    const entry: NetworkLog["requests"][number] = { url: request.url(), method: request.method(), origin: undefined };
    network.requests.push(entry);
    // The headers as sent (`headers()` holds only the provisional ones, without `Origin`).
    void request.allHeaders().then(
      (headers) => {
        entry.origin = headers.origin;
      },
      () => {},
    );
  });
  page.on("response", (response) => {
    if (watched(response.url()))
      network.responses.push({
        url: response.url(),
        status: response.status(),
        allowOrigin: response.headers()["access-control-allow-origin"],
      });
  });
  page.on("requestfailed", (request) => {
    if (watched(request.url())) network.failed.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  page.on("websocket", (socket) => network.websockets.push(socket.url()));
  page.on("console", (message) => network.console.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => network.pageErrors.push(String(error)));
  await page.goto(`${origin}${path}`, { waitUntil: "load", timeout: 15_000 });
  return { page, network };
}

type HookSnapshot = Omit<HookProbe, "transport"> & { transport: string | null };
interface HookState {
  connected: boolean;
  marketData: Record<string, Record<string, unknown>>;
  orders: unknown[];
  alerts: Record<string, unknown>[];
}

/** The hook's page for `userId` on `server`, served from `origin`. */
async function openHookPage(origin: string, server: DevServer, userId: string) {
  const token = await server.sign({ sub: userId });
  const { page, network } = await openPage(
    origin,
    `/hook.html?${new URLSearchParams({ server: server.url, userId, token })}`,
  );
  const probe = () =>
    page.evaluate((): HookSnapshot => {
      const recorded = (globalThis as unknown as { __e2e: HookProbe }).__e2e;
      return { ...recorded, transport: recorded.transport() };
    });
  /** What the hook returned, as the page rendered it. */
  const state = async (): Promise<HookState> => JSON.parse((await page.textContent("#hook-state")) ?? "null");
  const describe = async () => {
    const snapshot = await probe().catch((error) => String(error));
    const rendered = await state().catch((error) => String(error));
    return `\nhook state: ${JSON.stringify(rendered)}\nprobe: ${JSON.stringify(snapshot).slice(0, 6000)}\nnetwork: ${JSON.stringify(network).slice(0, 6000)}`;
  };
  const until = <T>(what: string, check: (snapshot: HookSnapshot, state: HookState) => T | undefined, ms = 15_000) =>
    waitForAsync(
      what,
      async () => {
        const [snapshot, rendered] = await Promise.all([probe(), state()]);
        return check(snapshot, rendered);
      },
      ms,
      describe,
    );
  /** The hook connected, authenticated and had each of its three subscriptions confirmed. */
  const subscribed = () =>
    until("the hook's subscriptions confirmed", (snapshot, rendered) =>
      rendered.connected &&
      ["auth-success", "market-subscribed", "trading-joined", "orders-subscribed"].every((event) =>
        snapshot.received.some((entry) => entry.event === event),
      )
        ? snapshot
        : undefined,
    );
  const upgraded = () =>
    until("the upgrade to WebSocket", (snapshot) =>
      snapshot.upgrades.length > 0 && snapshot.transport === "websocket" ? snapshot : undefined,
    );
  return { page, network, probe, state, until, subscribed, upgraded, describe };
}

/** The Equihome seed client's page on `server`, served from `origin`. */
async function openEquihomePage(origin: string, server: DevServer, sub: string) {
  const token = await server.sign({ sub, email: `${sub}@equihome.test` });
  const { page, network } = await openPage(
    origin,
    `/equihome.html?${new URLSearchParams({ ws: server.wsUrl, token })}`,
  );
  type Snapshot = Omit<EquihomeProbe, "tickPingInterval" | "close">;
  const probe = () =>
    page.evaluate((): Snapshot => {
      const { calls, frames, closed } = (globalThis as unknown as { __e2e: EquihomeProbe }).__e2e;
      return { calls, frames, closed };
    });
  const until = <T>(what: string, check: (snapshot: Snapshot) => T | undefined, ms = 10_000) =>
    waitForAsync(
      what,
      async () => check(await probe()),
      ms,
      async () =>
        `\nprobe: ${JSON.stringify(await probe().catch(String)).slice(0, 6000)}\nnetwork: ${JSON.stringify(network)}`,
    );
  const logged = (message: string) =>
    until(`console.log(${JSON.stringify(message)})`, (snapshot) =>
      snapshot.calls.find((call) => call.fn === "console.log" && call.args[0] === message),
    );
  return { page, network, probe, until, logged };
}

const SEED_SUBSCRIPTIONS = (userId: string, token: string) => [
  { event: "authenticate", args: [{ userId, token }] },
  { event: "subscribe-market", args: [["crude_oil", "natural_gas"]] },
  { event: "join-trading", args: [userId] },
  { event: "subscribe-orders", args: [userId] },
];

describe("the QuantEnergx seed's React hook in Chromium", () => {
  it("from another origin, on default transports: polls, upgrades to WebSocket, and holds what /v1/ingest publishes", async () => {
    const server = must(open, "the open dev server");
    const origin = must(pages, "the page server").origin;
    const userId = uid("hook-user");
    const hook = await openHookPage(origin, server, userId);

    const subscribed = await hook.subscribed();
    const token = new URL(hook.page.url()).searchParams.get("token") ?? "";
    expect(subscribed.sent).toEqual(SEED_SUBSCRIPTIONS(userId, token));
    expect(await hook.page.textContent("#connected")).toBe("true");

    // Polling first, then the upgrade.
    const upgraded = await hook.upgraded();
    expect(upgraded.engines.map((engine) => engine.transport)).toEqual(["polling"]);
    expect(upgraded.upgrades.map((upgrade) => upgrade.transport)).toEqual(["websocket"]);
    // On the wire: the handshake over polling from the page's origin, answered for that origin,
    // then a WebSocket for the same session.
    const engineIo = `${server.url}/socket.io/?EIO=4&transport=`;
    const polls = hook.network.requests.filter((request) => request.url.startsWith(`${engineIo}polling`));
    expect(polls.length).toBeGreaterThan(0);
    await waitForAsync(
      "the polls' headers as sent",
      async () => (polls.every((request) => request.origin !== undefined) ? true : undefined),
      5_000,
      () => ` ${JSON.stringify(polls)}`,
    );
    expect(polls.every((request) => request.origin === origin)).toBe(true);
    const handshake = hook.network.responses.find((response) => response.url.startsWith(`${engineIo}polling`));
    expect(handshake).toMatchObject({ status: 200, allowOrigin: origin });
    const sid = new URL(
      hook.network.requests.find((request) => request.url.includes("sid="))?.url ?? "http://x",
    ).searchParams.get("sid");
    expect(sid).toBeTruthy();
    expect(hook.network.websockets).toEqual([
      `${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${encodeURIComponent(sid ?? "")}`,
    ]);

    // What a publisher posts. heating_oil is not one of the hook's commodities.
    const orderId = uid("order");
    const tradeId = uid("trade");
    const heating = marketUpdate("heating_oil", uniquePrice());
    const crude = marketUpdate("crude_oil", uniquePrice());
    const gas = marketUpdate("natural_gas", uniquePrice());
    const order = orderUpdate(userId, orderId);
    const trade = tradeUpdate(userId, tradeId);
    const volatility = systemAlert(`volatility ${uid("alert")}`);
    await publish(server, [heating, crude, gas, order, trade, volatility]);
    // Later ticks replace earlier ones per commodity; later alerts go first.
    const crudeLater = marketUpdate("crude_oil", uniquePrice());
    const maintenance = systemAlert(`maintenance ${uid("alert")}`);
    await publish(server, [crudeLater, maintenance]);

    const settled = await hook.until("every event in the hook's state or received", (snapshot, state) => {
      const got = (event: string, id: string) =>
        snapshot.received.some(
          (entry) => entry.event === event && (entry.payload as { payload?: { id?: string } }).payload?.id === id,
        );
      return state.alerts.length === 2 &&
        state.marketData.crude_oil?.price === crudeLater.data.payload.price &&
        state.marketData.natural_gas !== undefined &&
        got("order-update", orderId) &&
        got("trade-update", tradeId)
        ? { snapshot, state }
        : undefined;
    });

    // The hook's state is exactly what the seed's code makes of those events: the latest tick of
    // each subscribed commodity, alerts newest first, and no orders, since the seed's
    // `order-update` handler only merges into orders it already has, and it starts with none.
    expect(settled.state).toEqual({
      connected: true,
      marketData: { crude_oil: crudeLater.data.payload, natural_gas: gas.data.payload },
      orders: [],
      alerts: [maintenance.data.payload, volatility.data.payload],
    });
    // The order and the trade did reach the hook's socket, intact; heating_oil did not.
    const received = (event: string) =>
      settled.snapshot.received.filter((entry) => entry.event === event).map((entry) => entry.payload);
    expect(received("order-update")).toEqual([order.data]);
    expect(received("trade-update")).toEqual([trade.data]);
    expect(received("market-update")).toEqual([crude.data, gas.data, crudeLater.data]);
    expect(received("system-alert")).toEqual([volatility.data, maintenance.data]);

    // The rendered page agrees with the state it renders.
    expect(await hook.page.textContent('tr[data-commodity="crude_oil"] .price')).toBe(
      String(crudeLater.data.payload.price),
    );
    expect(await hook.page.locator("#alerts li").allTextContents()).toEqual([
      `[warning] ${maintenance.data.payload.message}`,
      `[warning] ${volatility.data.payload.message}`,
    ]);
    expect(JSON.parse((await hook.page.textContent("#trades-seen")) ?? "null")).toEqual([trade.data.payload]);

    // Connected once, never dropped, still on WebSocket.
    const last = await hook.probe();
    expect(last.connectedChanges.map((change) => change.connected)).toEqual([false, true]);
    expect(last.lifecycle.map((event) => event.type)).toEqual(["connect"]);
    expect(last.transport).toBe("websocket");
    expect(hook.network.pageErrors).toEqual([]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await hook.page.screenshot({ path: `${ARTIFACTS}quantenergx-hook.png`, fullPage: true, timeout: 10_000 });
  });

  it("with ALLOWED_ORIGINS set to the page's origin: connects, upgrades and receives", async () => {
    const server = must(restricted, "the restricted dev server");
    const origin = must(pages, "the page server").origin;
    const userId = uid("allowed-user");
    const hook = await openHookPage(origin, server, userId);
    await hook.subscribed();
    await hook.upgraded();

    const tick = marketUpdate("natural_gas", uniquePrice());
    await publish(server, tick);
    const state = await hook.until("the tick in the hook's state", (_, rendered) =>
      rendered.marketData.natural_gas?.price === tick.data.payload.price ? rendered : undefined,
    );
    expect(state.marketData).toEqual({ natural_gas: tick.data.payload });
    const handshake = hook.network.responses.find((response) => response.url.includes("transport=polling"));
    expect(handshake).toMatchObject({ status: 200, allowOrigin: origin });
    expect(hook.network.websockets).toHaveLength(1);
    expect((await hook.probe()).lifecycle.map((event) => event.type)).toEqual(["connect"]);
  });

  it("with ALLOWED_ORIGINS set to another origin: the page's connection is refused and nothing reaches it", async () => {
    const server = must(restricted, "the restricted dev server");
    const origin = must(otherPages, "the other page server").origin;
    const userId = uid("refused-user");
    const hook = await openHookPage(origin, server, userId);

    // socket.io-client reports the refusal and keeps retrying (its default), never connecting.
    await hook.until("a connect_error", (snapshot) =>
      snapshot.lifecycle.some((event) => event.type === "connect_error") ? snapshot : undefined,
    );
    const tick = marketUpdate("crude_oil", uniquePrice());
    const alert = systemAlert(`refused ${uid("alert")}`);
    await publish(server, [tick, alert]);
    // Long enough for a delivery to arrive, and for the client's next attempts (1 s backoff).
    await sleep(3_000);

    const snapshot = await hook.probe();
    expect(await hook.state()).toEqual({ connected: false, marketData: {}, orders: [], alerts: [] });
    expect(snapshot.connectedChanges.map((change) => change.connected)).toEqual([false]);
    expect(snapshot.received).toEqual([]);
    expect(snapshot.sent).toEqual([]);
    expect(snapshot.lifecycle.length).toBeGreaterThan(0);
    expect(snapshot.lifecycle.every((event) => event.type === "connect_error")).toBe(true);
    // In the browser: every Engine.IO request failed, the refusal unreadable by the page (no CORS
    // headers), and no WebSocket was tried.
    expect(hook.network.requests.length).toBeGreaterThan(0);
    expect(hook.network.failed.length).toBeGreaterThan(0);
    expect(hook.network.failed.every((failure) => failure.endsWith("net::ERR_FAILED"))).toBe(true);
    expect(hook.network.responses).toEqual([]);
    expect(hook.network.console).toContainEqual(
      expect.stringContaining(
        `from origin '${origin}' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header`,
      ),
    );
    expect(hook.network.websockets).toEqual([]);
    // What the browser got and did not show the page: the same handshake with that Origin is a
    // 403 without CORS headers.
    const refusal = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { Origin: origin },
      signal: AbortSignal.timeout(10_000),
    });
    await refusal.body?.cancel();
    expect(refusal.status).toBe(403);
    expect(refusal.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("stays connected across several ping intervals after the upgrade (waits 60 s)", { timeout: 100_000 }, async () => {
    const server = must(open, "the open dev server");
    const origin = must(pages, "the page server").origin;
    const hook = await openHookPage(origin, server, uid("steady-user"));
    await hook.subscribed();
    const upgraded = await hook.upgraded();
    const upgradedAt = upgraded.upgrades[0]?.at ?? Date.now();

    // The server pings every 25 s: 60 s after the upgrade spans two pings over WebSocket and
    // more. Watched every second, left as soon as anything drops.
    let snapshot = upgraded;
    while (Date.now() < upgradedAt + 60_000) {
      await sleep(1_000);
      snapshot = await hook.probe();
      if (snapshot.lifecycle.length > 1 || snapshot.connectedChanges.length > 2) break;
    }
    const timeline = (at: number) => `${((at - upgradedAt) / 1000).toFixed(1)} s after the upgrade`;
    const events = snapshot.lifecycle.map(
      (event) => `${event.type}${event.detail ? ` (${event.detail})` : ""} ${timeline(event.at)}`,
    );
    const pings = snapshot.pings.map((ping) => `ping over ${ping.transport} ${timeline(ping.at)}`);
    const story = `\nlifecycle: ${JSON.stringify(events)}\npings: ${JSON.stringify(pings)}`;
    expect(events, `the socket's lifecycle${story}`).toEqual([expect.stringMatching(/^connect /)]);
    expect(
      snapshot.connectedChanges.map((change) => change.connected),
      `the hook's connected${story}`,
    ).toEqual([false, true]);
    // The heartbeat did run on the upgraded session: at least two pings over the WebSocket.
    expect(
      snapshot.pings.filter((ping) => ping.transport === "websocket" && ping.at > upgradedAt).length,
      `pings over the WebSocket${story}`,
    ).toBeGreaterThanOrEqual(2);
    expect(snapshot.engines).toHaveLength(1);
    expect(snapshot.transport).toBe("websocket");

    // And it still delivers.
    const tick = marketUpdate("crude_oil", uniquePrice());
    await publish(server, tick);
    await hook.until("a tick after 60 s", (_, rendered) =>
      rendered.marketData.crude_oil?.price === tick.data.payload.price ? true : undefined,
    );
  });
});

describe("the Equihome seed's browser client in Chromium, from another origin", () => {
  for (const [label, which] of [
    ["ALLOWED_ORIGINS unset", () => open],
    ["ALLOWED_ORIGINS set to the page's origin", () => restricted],
  ] as const) {
    it(`${label}: subscribes, shows simulation progress, and gets a pong for its ping`, async () => {
      const server = must(which(), label);
      const client = await openEquihomePage(must(pages, "the page server").origin, server, uid("equihome"));
      await client.logged("Subscribed to simulation_updates");

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
      const [result] = await publish(server, progress);
      await client.logged("Simulation progress: 45%");
      expect(await client.page.locator("#progress").evaluate((element) => (element as { value?: number }).value)).toBe(
        45,
      );
      expect(await client.page.textContent("#percent")).toBe("45");

      // The seed's keep-alive, run now: its ping (msg_2) is answered by a pong with that id,
      // which the seed's switch logs under `default`.
      await client.page.evaluate(() => (globalThis as unknown as { __e2e: EquihomeProbe }).__e2e.tickPingInterval());
      const pong = await client.until("pong", (snapshot) => snapshot.frames.find((frame) => frame.event === "pong"));
      expect(pong).toMatchObject({ event: "pong", id: "msg_2", data: { timestamp: expect.any(Number) } });
      await client.until("the pong logged", (snapshot) =>
        snapshot.calls.some((call) => call.fn === "console.log" && call.args[0] === "Received event: pong")
          ? true
          : undefined,
      );

      await client.page.evaluate(() => (globalThis as unknown as { __e2e: EquihomeProbe }).__e2e.close());
      await client.logged("Disconnected from WebSocket server");
      const { calls, frames, closed } = await client.probe();
      expect(calls).toEqual([
        { fn: "console.log", args: ["Connected to WebSocket server"] },
        { fn: "console.log", args: ["Subscribed to simulation_updates"] },
        { fn: "updateProgressBar", args: [45] },
        { fn: "console.log", args: ["Simulation progress: 45%"] },
        { fn: "console.log", args: ["Received event: pong", pong.data] },
        { fn: "console.log", args: ["Disconnected from WebSocket server"] },
      ]);
      expect(frames.filter((frame) => frame.event === "simulation_progress")).toEqual([
        { ...progress, seq: result?.seq },
      ]);
      expect(closed).toMatchObject({ code: 1000 });
      expect(client.network.websockets).toEqual([expect.stringMatching(new RegExp(`^${server.wsUrl}/v1/ws\\?token=`))]);
      expect(client.network.pageErrors).toEqual([]);
    });
  }

  it("ALLOWED_ORIGINS set to another origin: the upgrade is refused and the seed's client reports it", async () => {
    const server = must(restricted, "the restricted dev server");
    const client = await openEquihomePage(must(otherPages, "the other page server").origin, server, uid("equihome"));
    await client.logged("Disconnected from WebSocket server");
    const { calls, frames, closed } = await client.probe();
    expect(calls).toEqual([
      { fn: "console.error", args: ["WebSocket error:", "[Event error]"] },
      { fn: "console.log", args: ["Disconnected from WebSocket server"] },
    ]);
    expect(frames).toEqual([]);
    expect(closed).toMatchObject({ code: 1006 });
  });
});
