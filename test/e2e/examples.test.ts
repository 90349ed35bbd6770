/**
 * The examples in examples/, run as a user runs them (`npm run example -- NAME`, i.e.
 * scripts/example.mjs) against a real `wrangler dev`: each prints what its client receives,
 * including the events it publishes itself through /v1/ingest, and stops cleanly on Ctrl-C
 * (SIGINT, exit 0). The seeds' client code in examples/ is also what the seed tests run
 * (equihome-seed-client.test.ts, socketio.test.ts, browser.test.ts): one copy.
 *
 * The tokens are signed with this run's secret and passed as TOKEN / PUBLISH_TOKEN, as a user
 * would pass tokens from their own issuer; by default the dispatcher signs them with .dev.vars.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_PATH, launchChromium, newContext } from "./helpers/browser";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { waitFor, waitForAsync } from "./helpers/wait";

const DISPATCHER = fileURLToPath(new URL("../../scripts/example.mjs", import.meta.url));
const PYTHON = "/usr/bin/python3";

let server: DevServer;
const running: ChildProcess[] = [];
let browser: Browser | undefined;

beforeAll(async () => {
  server = await startDevServer();
});

afterEach(() => {
  // An example a failed test left running goes with it.
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs `npm run example -- name …` (the dispatcher, as npm runs it) with tokens of this run. */
async function runExample(name: string, userId: string, args: string[] = []) {
  const child = spawn(process.execPath, [DISPATCHER, name, "--url", server.url, "--user", userId, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PYTHON,
      TOKEN: await server.sign({ sub: userId }),
      PUBLISH_TOKEN: await server.sign({ sub: "example-publisher", scope: "publish" }),
    },
  });
  running.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const output = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    output,
    /** Waits until stdout has a line matching `pattern`; returns that line. */
    printed: (pattern: RegExp, timeoutMs = 20_000) =>
      waitFor(
        `a line matching ${pattern}`,
        () => stdout.split("\n").find((line) => pattern.test(line)),
        timeoutMs,
        output,
      ),
    /** Ctrl-C: SIGINT to the dispatcher, which passes it on; resolves to the exit code. */
    interrupt: async () => {
      child.kill("SIGINT");
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 10_000));
      const code = await Promise.race([exited, timeout]);
      if (code === "timeout") throw new Error(`the example did not exit within 10 s of SIGINT${output()}`);
      return code;
    },
  };
}

const uid = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

describe("npm run example", () => {
  it("equihome: the seed's client subscribes, shows the run the example publishes from 0 to 100 % and its results", async () => {
    const example = await runExample("equihome", uid("eq"));
    await example.printed(/^Connected to WebSocket server$/);
    await example.printed(/^Subscribed to simulation_updates$/);
    // What the example publishes, each with its seq, and what the seed's client makes of it.
    await example.printed(/^ {2}→ published simulation_progress seq \d+$/);
    await example.printed(/^\[#{20}\] 100%$/);
    await example.printed(/^Simulation progress: 50%$/);
    await example.printed(/^Simulation progress: 100%$/);
    expect(await example.printed(/^results: /)).toBe('results: {"mean_irr":0.13,"median_irr":0.12,"irr_std_dev":0.02}');
    await example.printed(/^Simulation completed$/);
    await example.printed(/^done; listening/);
    expect(await example.interrupt(), example.output()).toBe(0);
    expect(example.stderr(), example.output()).toBe("");
  });

  it("quantenergx: the seed's TypeScript class authenticates, subscribes and logs ticks, orders, trades and alerts", async () => {
    const userId = uid("qe");
    const example = await runExample("quantenergx", userId);
    await example.printed(/^Connected to QuantEnergx WebSocket$/);
    expect(await example.printed(/^Authentication successful:/)).toContain(`userId: '${userId}'`);
    await example.printed(/^Market update: \{$|^Market update: \{ commodity: 'crude_oil'/);
    await example.printed(/commodity: 'natural_gas'/);
    await example.printed(/^Order update: /);
    await example.printed(/^Trade update: /);
    await example.printed(/^System alert: /);
    expect(example.stdout()).toContain("Crude oil volatility above its 30-day average");
    expect(await example.interrupt(), example.output()).toBe(0);
    expect(example.stderr(), example.output()).toBe("");
  });

  const pythonMissing =
    spawnSync(PYTHON, ["-c", "import socketio"], { timeout: 15_000 }).status === 0
      ? null
      : `\`import socketio\` fails under ${PYTHON} (install Debian's python3-socketio)`;

  it("python: the seed's class with its event names fixed subscribes and prints what the example publishes", async (ctx) => {
    if (pythonMissing) ctx.skip(pythonMissing);
    const userId = uid("py");
    const example = await runExample("python", userId);
    await example.printed(/^Connected to QuantEnergx WebSocket$/);
    expect(await example.printed(/^Authentication successful:/)).toContain(`'userId': '${userId}'`);
    await example.printed(/^Subscribed to market data for: crude_oil, natural_gas$/);
    await example.printed(new RegExp(`^Subscribed to order updates for user ${userId}$`));
    await example.printed(/^ {2}→ published system-alert seq \d+$/);
    await example.printed(/^Market update: \{'commodity': 'crude_oil', 'price': 74\.25/);
    expect(await example.printed(/^Trade update: /)).toContain(`'userId': '${userId}'`);
    expect(await example.printed(/^Order update: /)).toContain("'status': 'partially_filled'");
    expect(await example.printed(/^System alert: /)).toContain("Crude oil volatility above its 30-day average");
    expect(await example.interrupt(), example.output()).toBe(0);
    expect(example.stderr(), example.output()).toBe("");
  });

  it("react: serves the page that renders the seed's hook; in Chromium it shows the ticks and alerts the example publishes", async (ctx) => {
    const userId = uid("re");
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const example = await runExample("react", userId, ["--port", String(port)]);
    const origin = `http://127.0.0.1:${port}`;
    await example.printed(new RegExp(`^open ${origin}/ `));
    const html = await (await fetch(`${origin}/`, { signal: AbortSignal.timeout(10_000) })).text();
    expect(html).toContain('<script type="module" src="/page.js">');
    const script = await fetch(`${origin}/page.js`, { signal: AbortSignal.timeout(10_000) });
    expect(script.headers.get("content-type")).toContain("text/javascript");
    expect(await script.text()).toContain("useQuantEnergxWebSocket");
    const config = await (await fetch(`${origin}/config.json`, { signal: AbortSignal.timeout(10_000) })).json();
    expect(config).toMatchObject({ server: server.url, userId });

    if (!existsSync(CHROMIUM_PATH)) ctx.skip(`no Chromium at ${CHROMIUM_PATH}: the page was served, not rendered`);
    browser ??= await launchChromium();
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      const text = async (selector: string) =>
        (await page
          .locator(selector)
          .textContent({ timeout: 500 })
          .catch(() => null)) ?? "";
      const shown = (what: string, check: () => Promise<boolean>) =>
        waitForAsync(
          what,
          async () => ((await check()) ? true : undefined),
          20_000,
          async () => example.output(),
        );
      await shown("connected", async () => (await text("#connected")) === "connected");
      await shown("a crude_oil price", async () =>
        /^\d+(\.\d+)?$/.test(await text('tr[data-commodity="crude_oil"] .price')),
      );
      await shown(
        "a natural_gas row",
        async () => (await page.locator('tr[data-commodity="natural_gas"]').count()) === 1,
      );
      await shown("the alert", async () =>
        (await text("#alerts")).includes("Crude oil volatility above its 30-day average"),
      );
    } finally {
      await context.close();
    }
    expect(await example.interrupt(), example.output()).toBe(0);
    expect(example.stderr(), example.output()).toBe("");
  });
});
