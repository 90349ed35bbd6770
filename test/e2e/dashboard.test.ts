/**
 * The dashboard (dashboard/, served by the Worker's static assets at `/`) in a real Chromium
 * against a real `wrangler dev` started as `npm run dev` starts it (DEV_TOKENS on, so the page
 * gets its tokens from the dev-only helper with no setup; wrangler builds the page first, from
 * wrangler.jsonc "build"):
 *
 * 1. events published through /v1/ingest appear on the page: a simulation's progress bar and its
 *    completion summary, GP economics steps, traffic-light zones, a notification, a market tick's
 *    price (Socket.IO), an order and a trade; the operations panel counts the page's sockets and
 *    shows the topic it subscribed with its lag;
 * 2. the fund co-edited in two panes: an edit in the Yjs pane (y-websocket) appears in the JSON
 *    pane (the client SDK) and one in the JSON pane appears in the Yjs pane, and the server's
 *    document holds both;
 * 3. `npm run demo` (scripts/demo.mjs, sped up) brings the default page to life: both
 *    simulations complete, ticks arrive. A screenshot of that page goes to
 *    test/e2e/artifacts/dashboard.png (git-ignored).
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { marketUpdate, orderUpdate, tradeUpdate } from "../fixtures/quantenergx-events";
import { launchChromium } from "./helpers/browser";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { publish } from "./helpers/ingest";
import { waitForAsync } from "./helpers/wait";

const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const DEMO = fileURLToPath(new URL("../../scripts/demo.mjs", import.meta.url));

let server: DevServer | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startDevServer({ vars: { DEV_TOKENS: "on" } });
  browser = await launchChromium();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close().catch(() => {});
});

afterAll(async () => {
  const errors: unknown[] = [];
  for (const step of [() => browser?.close(), () => server?.stop()]) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
});

const must = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what} did not start (see beforeAll)`);
  return value;
};

interface Opened {
  page: Page;
  /** Console errors and page errors, for failure messages. */
  problems: string[];
}

/** The dashboard at `/` + `search`, its three connections open. */
async function openDashboard(search = ""): Promise<Opened> {
  const dev = must(server, "wrangler dev");
  const context = await must(browser, "Chromium").newContext({ viewport: { width: 1400, height: 1000 } });
  contexts.push(context);
  await context.grantPermissions(["local-network-access"]);
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${String(error)}`));
  await page.goto(`${dev.url}/${search}`, { waitUntil: "load", timeout: 15_000 });
  for (const link of ["json", "sio", "yjs", "ops"]) {
    await page
      .waitForSelector(`[data-link="${link}"][data-state="open"]`, { timeout: 20_000 })
      .catch(async (error: unknown) => {
        const shown = await page.textContent("#errors").catch(() => "");
        throw new Error(`link ${link} not open: ${String(error)}\npage errors: ${shown}\n${problems.join("\n")}`);
      });
  }
  await page.waitForSelector('body[data-feeds="subscribed"]');
  return { page, problems };
}

/** Waits until `selector`'s text contains `text` (read from Node: these tests have no DOM types). */
async function waitForText(page: Page, selector: string, text: string, timeout = 15_000): Promise<void> {
  let shown: string | null = null;
  await waitForAsync(
    `${selector} to show ${JSON.stringify(text)}`,
    async () => {
      shown = await page.textContent(selector, { timeout: 1000 }).catch(() => null);
      return shown?.includes(text) ? true : undefined;
    },
    timeout,
    () => ` (it shows ${JSON.stringify(shown)})`,
  );
}

async function waitForValue(page: Page, selector: string, value: string, timeout = 15_000): Promise<void> {
  let held: string | null = null;
  await waitForAsync(
    `${selector} to hold ${JSON.stringify(value)}`,
    async () => {
      held = await page.inputValue(selector, { timeout: 1000 }).catch(() => null);
      return held === value ? true : undefined;
    },
    timeout,
    () => ` (it holds ${JSON.stringify(held)})`,
  );
}

/** The cells of the operations panel's row for `topic`. */
async function topicRow(page: Page, topic: string): Promise<string[]> {
  return page.locator(`#ops tr[data-topic="${topic}"] td`).allTextContents();
}

async function total(page: Page, key: string): Promise<number> {
  return Number(await page.textContent(`[data-total="${key}"] .v`, { timeout: 1000 }).catch(() => "NaN"));
}

const at = () => new Date().toISOString();

describe("the dashboard", () => {
  it("is served at / with its script and stylesheet, and gets its tokens from the dev-only helper", async () => {
    const dev = must(server, "wrangler dev");
    const html = await fetch(`${dev.url}/`, { signal: AbortSignal.timeout(10_000) });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toContain("text/html");
    expect(await html.text()).toContain('<script type="module" src="/app.js">');
    for (const asset of ["/app.js", "/style.css"]) {
      expect((await fetch(`${dev.url}${asset}`, { signal: AbortSignal.timeout(10_000) })).status, asset).toBe(200);
    }
    const { page } = await openDashboard();
    await waitForText(page, "#token-info", "DEV TOKEN");
    expect(await page.isVisible("#dev-banner")).toBe(true);
  });

  it("shows what ingest publishes: progress, summaries, GP steps, zones, notifications, ticks, orders, trades", async () => {
    const dev = must(server, "wrangler dev");
    const { page } = await openDashboard("?sims=sim_e2e_one&fund=fund_e2e_feeds&commodities=crude_oil,gold");

    await publish(dev, {
      event: "simulation_progress",
      data: {
        simulation_id: "sim_e2e_one",
        progress: 45,
        status: "processing",
        message: "Processing scenario 450/1000",
      },
    });
    const bar = '[data-simulation="sim_e2e_one"] [role="progressbar"]';
    await page.waitForSelector(`${bar}[aria-valuenow="45"]`);
    await waitForText(page, '[data-simulation="sim_e2e_one"]', "Processing scenario 450/1000");
    await waitForText(page, '[data-simulation="sim_e2e_one"]', "45 %");

    await publish(dev, [
      { event: "gp_entity_economics_calculation_started", data: { simulation_id: "sim_e2e_one", timestamp: at() } },
      {
        event: "gp_entity_economics_calculation_progress",
        data: { simulation_id: "sim_e2e_one", progress: 40, step: "distribution_waterfall", timestamp: at() },
      },
      {
        event: "simulation_completed",
        data: { simulation_id: "sim_e2e_one", status: "completed", summary: { tvpi: 1.87, irr_p50: 0.142 } },
      },
      {
        event: "traffic_light_update",
        data: {
          timestamp: at(),
          zone_updates: { amber: { appreciation_rate: 0.031, default_rate: 0.027, risk_score: 0.52 } },
          market_conditions: { interest_rates: "rising" },
        },
      },
      { event: "notification", data: { type: "warning", message: "Maintenance at 22:00 UTC", timestamp: at() } },
    ]);
    await page.waitForSelector(`${bar}[aria-valuenow="100"]`);
    await waitForText(page, '[data-simulation="sim_e2e_one"] .summary', "1.87");
    await waitForText(page, '[data-simulation="sim_e2e_one"] .badge', "completed");
    await waitForText(page, '[data-gp="sim_e2e_one"]', "distribution waterfall");
    await waitForText(page, '[data-zone="amber"]', "0.52");
    await waitForText(page, "#traffic .conditions", "rising");
    await waitForText(page, "#notifications .feed", "Maintenance at 22:00 UTC");

    // Socket.IO: the page's user is the dev token's sub, "ann".
    await publish(dev, [
      marketUpdate("crude_oil", 74.25),
      orderUpdate("ann", "ord-e2e-1"),
      tradeUpdate("ann", "trd-e2e-1"),
    ]);
    await page.waitForSelector('[data-commodity="crude_oil"][data-price="74.25"]');
    await waitForText(page, '[data-commodity="crude_oil"] .price', "74.25");
    await waitForText(page, '#orders tr[data-id="ord-e2e-1"]', "partially filled");
    await waitForText(page, '#orders tr[data-id="trd-e2e-1"]', "executed");

    // Operations: the page's JSON socket (at least) and its Socket.IO session, and the topic it
    // subscribed, with its seq and a lag of 0 once the hub has acknowledged.
    const topic = "simulation_updates:sim_e2e_one";
    await waitForAsync("2 sockets counted", async () => ((await total(page, "sockets")) >= 2 ? true : undefined));
    await waitForAsync("1 session counted", async () => ((await total(page, "sessions")) >= 1 ? true : undefined));
    let row: string[] = [];
    await waitForAsync(
      `${topic}: 1 subscriber, seq 2, lag 0`,
      async () => {
        row = await topicRow(page, topic);
        return row[1] === "1" && row[2] === "2" && row[3] === "0" ? true : undefined;
      },
      15_000,
      () => ` (row: ${JSON.stringify(row)})`,
    );
  });

  it("co-edits one fund in two panes: Yjs → JSON and JSON → Yjs", async () => {
    const dev = must(server, "wrangler dev");
    const { page, problems } = await openDashboard("?sims=sim_e2e_two&fund=fund_e2e_coedit");
    await page.waitForSelector('#pane-yjs[data-synced="true"]');
    await page.waitForSelector('#pane-json input[data-path="name"]:not([disabled])');
    // Both panes are editors of the document: the JSON pane lists the Yjs pane's user too.
    await waitForText(page, "#pane-json .editors", "yuki@dashboard.local");

    // Yjs → JSON
    const yjsFee = '#pane-yjs input[data-path="fee_structure.management_fee_rate"]';
    await page.fill(yjsFee, "0.025");
    await page.press(yjsFee, "Enter");
    await waitForValue(page, '#pane-json input[data-path="fee_structure.management_fee_rate"]', "0.025");

    // JSON → Yjs
    const jsonCarry = '#pane-json input[data-path="fee_structure.carried_interest"]';
    await page.fill(jsonCarry, "0.25");
    await page.press(jsonCarry, "Enter");
    await waitForValue(page, '#pane-yjs input[data-path="fee_structure.carried_interest"]', "0.25");
    const jsonName = '#pane-json input[data-path="name"]';
    await page.fill(jsonName, "Fund E2E");
    await page.press(jsonName, "Enter");
    await waitForValue(page, '#pane-yjs input[data-path="name"]', "Fund E2E");

    // The server's document holds both panes' edits.
    const response = await fetch(`${dev.url}/v1/resources/fund/fund_e2e_coedit`, {
      headers: { Authorization: `Bearer ${await dev.sign({ sub: "reader" })}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      document: { name: "Fund E2E", fee_structure: { management_fee_rate: 0.025, carried_interest: 0.25 } },
    });
    expect(problems).toEqual([]);
  });

  it("uses a pasted token for every connection instead; without the admin scope the operations panel says so", async () => {
    const dev = must(server, "wrangler dev");
    const { page, problems } = await openDashboard("?sims=sim_e2e_three&fund=fund_e2e_pasted");
    await page.fill("#token", await dev.sign({ sub: "bob", email: "bob@example.com", scope: "edit" }));
    await page.click("#connect");
    await waitForText(page, "#token-info", "sub bob");
    expect(await page.textContent("#token-info")).not.toContain("DEV TOKEN");
    expect(await page.isVisible("#dev-banner")).toBe(false);
    await page.waitForSelector('[data-link="ops"][data-state="error"]');
    await waitForText(page, "#ops .ops-note", "lacks the admin scope");
    await page.waitForSelector('[data-link="json"][data-state="open"]');
    await page.waitForSelector('[data-link="sio"][data-state="open"]');
    await page.waitForSelector('body[data-feeds="subscribed"]');
    // Socket.IO authenticated as bob: bob's orders reach the page.
    await publish(dev, orderUpdate("bob", "ord-e2e-bob"));
    await waitForText(page, '#orders tr[data-id="ord-e2e-bob"]', "partially filled");
    // The JSON pane edits as bob.
    await page.waitForSelector('#pane-json input[data-path="name"]:not([disabled])');
    await waitForText(page, "#pane-json .editors", "bob@example.com");
    expect(problems.filter((p) => !p.includes("401") && !p.includes("403"))).toEqual([]);
  });

  it("comes alive with `npm run demo` and no other setup (screenshot in test/e2e/artifacts/)", async () => {
    const dev = must(server, "wrangler dev");
    const { page, problems } = await openDashboard();
    // The demo signs with --secret here (the run's secret; `npm run demo` reads .dev.vars).
    const run = promisify(execFile)(
      process.execPath,
      [DEMO, "--url", dev.url, "--secret", dev.secret, "--speed", "15", "--quiet"],
      { timeout: 60_000 },
    );
    await run;
    for (const sim of ["sim_alpha", "sim_beta"]) {
      await page.waitForSelector(`[data-simulation="${sim}"] [role="progressbar"][aria-valuenow="100"]`);
      await waitForText(page, `[data-simulation="${sim}"] .summary`, "tvpi");
    }
    await waitForText(page, '[data-gp="sim_alpha"] .badge', "completed");
    await waitForText(page, '[data-gp="sim_beta"] .badge', "failed");
    for (const commodity of ["crude_oil", "natural_gas", "electricity", "carbon"]) {
      await page.waitForSelector(`[data-commodity="${commodity}"][data-price]`);
    }
    await page.waitForSelector('#orders tr[data-kind="trade"]');
    await page.waitForSelector("#traffic [data-zone]");
    await waitForValue(page, '#pane-yjs input[data-path="name"]', "Equihome Demo Fund I");
    await waitForValue(page, '#pane-json input[data-path="name"]', "Equihome Demo Fund I");
    await page.waitForSelector("#ops tr[data-topic]");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    expect(problems).toEqual([]);
  });
});
