/**
 * The client SDK in a real Chromium (Debian's, through playwright-core), bundled with esbuild from
 * client/src as an app bundles it, on a page of another origin than the `wrangler dev` it talks
 * to: subscribe, typed events, an edit acknowledged.
 */
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SdkProbe } from "./fixtures/browser/sdk-probe";
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

let bundle: Bundle | undefined;
let pages: StaticServer | undefined;
let server: DevServer | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  bundle = await bundlePages({ sdk: fileURLToPath(new URL("./fixtures/browser/sdk-page.tsx", import.meta.url)) });
  pages = await startStaticServer(bundle);
  server = await startDevServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await pages?.close();
  await server?.stop();
  bundle?.remove();
});

it("subscribes, receives typed events and edits from a browser page", async () => {
  if (!server || !browser || !pages) throw new Error("setup failed");
  const dev = server;
  context = await newContext(browser);
  const page = await context.newPage();
  const token = await dev.sign({ sub: "sdk-browser", email: "browser@example.com", scope: "edit" });
  const query = new URLSearchParams({ url: `${dev.wsUrl}/v1/ws`, token });
  await page.goto(`${pages.origin}/sdk.html?${query}`, { waitUntil: "load", timeout: 15_000 });
  const probe = () => page.evaluate(() => (globalThis as unknown as { __sdk: SdkProbe }).__sdk);
  const describe = async () => `\nprobe: ${JSON.stringify(await probe())}`;

  await waitForAsync(
    "the edit's acknowledgement",
    async () => ((await probe()).ackSeq !== null ? true : undefined),
    15_000,
    describe,
  );
  await publish(dev, [
    { event: "simulation_progress", data: { simulation_id: "sdk_browser_sim", progress: 30, status: "running" } },
    { event: "simulation_progress", data: { simulation_id: "sdk_browser_sim", progress: 60, status: "running" } },
  ]);
  await waitForAsync(
    "two progress events",
    async () => ((await probe()).progress.length >= 2 ? true : undefined),
    15_000,
    describe,
  );

  const result = await probe();
  expect(result).toMatchObject({
    opens: 1,
    subscribed: true,
    progress: [30, 60],
    ackSeq: 1,
    document: { name: "Fund from the browser" },
    errors: [],
  });
  expect(await page.locator("#progress").getAttribute("value")).toBe("60");
});
