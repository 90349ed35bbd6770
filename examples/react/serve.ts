// The React example: bundles page.tsx (React, socket.io-client and the protocol document's
// hook, from node_modules: no CDN) with esbuild, serves it on http://127.0.0.1:PORT, and plays
// a market feed through POST /v1/ingest every 2 s so that the page has something to show
// (ticks for crude_oil and natural_gas, alerts; see ../quantenergx/feed.ts). Until Ctrl-C.
//   npm run example -- react [--port 5173] [--url http://127.0.0.1:8787] [--user user-123]
// The page is on another origin than the service, as an app's pages are: with ALLOWED_ORIGINS
// set, it must list http://127.0.0.1:PORT.
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { onStop, publishEvery, settings } from "../common.ts";
import { marketFeed } from "../quantenergx/feed.ts";

const config = settings();
const port = Number(process.env.PORT ?? "5173");

const bundle = await build({
  entryPoints: [fileURLToPath(new URL("./page.tsx", import.meta.url))],
  bundle: true,
  write: false,
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
const script = bundle.outputFiles[0]?.contents;
if (!script) throw new Error("esbuild produced no output");

const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>QuantEnergx market (React example)</title></head>
<body><div id="root"></div><script type="module" src="/page.js"></script></body>
</html>`;

const server = createServer((request, response) => {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const send = (type: string, body: string | Uint8Array) => {
    response.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
    response.end(body);
  };
  if (path === "/") send("text/html; charset=utf-8", html);
  else if (path === "/page.js") send("text/javascript; charset=utf-8", script);
  // What the page needs to connect. A real app gets its token from its own login.
  else if (path === "/config.json")
    send("application/json", JSON.stringify({ server: config.server, userId: config.userId, token: config.token }));
  else {
    response.writeHead(404);
    response.end();
  }
});
await new Promise<void>((resolve, reject) => {
  server.once("error", reject);
  server.listen(port, "127.0.0.1", resolve);
});
console.log(`open http://127.0.0.1:${port}/ (the page connects to ${config.server} as ${config.userId})`);

const stopFeed = publishEvery(config, 2_000, marketFeed(config.userId));

onStop(() => {
  stopFeed();
  server.close();
  server.closeAllConnections();
});
