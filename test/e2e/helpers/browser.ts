/**
 * A real browser for end-to-end tests: Debian's Chromium driven by playwright-core, pages bundled
 * with esbuild (React, socket.io-client and the seeds' code from node_modules: no CDN), served by
 * a tiny static server on a loopback port of its own, so that every page is on another origin
 * than the `wrangler dev` it talks to, as an app's pages are.
 *
 * Local network access (Chromium 156.0.8078.114, checked 2026-12-04): a page served from
 * `http://127.0.0.1:<port>` reaches `http://` and `ws://127.0.0.1:<other port>` with no grant and
 * no flag (both are in the loopback address space, and the page is a secure context). A page
 * with an opaque origin (`about:blank`, `data:`) is blocked (`ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS`)
 * even when the context grants `local-network-access` (the grant applies to secure contexts
 * only); there only `--disable-features=LocalNetworkAccessChecks` lifts the block. The contexts
 * made here grant `local-network-access` all the same, so that a Chromium that starts asking
 * loopback pages for it keeps working; the flag is not used, so the check itself stays on.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { build } from "esbuild";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Flags for Debian's Chromium, headless in a container (no sandbox, no GPU, no background traffic). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Bundle {
  dir: string;
  /** The page names, e.g. `hook` for `/hook.html` + `/hook.js`. */
  pages: string[];
  remove(): void;
}

/** Bundles each entry (`name` → source file) for the browser into a temp dir. */
export async function bundlePages(entries: Record<string, string>): Promise<Bundle> {
  const dir = mkdtempSync(join(tmpdir(), "realtime-edge-browser-"));
  try {
    await build({
      entryPoints: entries,
      outdir: dir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "chrome120",
      jsx: "automatic",
      define: { "process.env.NODE_ENV": '"production"' },
      sourcemap: "inline",
      logLevel: "silent",
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, pages: Object.keys(entries), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { ".js": "text/javascript; charset=utf-8", ".map": "application/json" };

/** Serves `/<page>.html` (an HTML shell loading `/<page>.js`) and the bundle's files. */
export async function startStaticServer(bundle: Bundle): Promise<StaticServer> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    const page = /^\/([a-z-]+)\.html$/.exec(path)?.[1];
    if (page && bundle.pages.includes(page)) {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      response.end(
        `<!doctype html><html><head><meta charset="utf-8"><title>${page}</title><link rel="icon" href="data:,"></head>` +
          `<body><div id="root"></div><script type="module" src="/${page}.js"></script></body></html>`,
      );
      return;
    }
    const file = /^\/[a-z-]+\.js(\.map)?$/.test(path) ? join(bundle.dir, path.slice(1)) : null;
    if (file && existsSync(file)) {
      response.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
      response.end(readFileSync(file));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    origin: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, timeout: 30_000 });
}

/** A fresh context (its own cookies and storage) that grants `local-network-access`. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  await context.grantPermissions(["local-network-access"]);
  context.setDefaultTimeout(10_000);
  return context;
}
