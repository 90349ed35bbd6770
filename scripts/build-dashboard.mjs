// Builds the dashboard (dashboard/) into dist/dashboard/files.mjs: a module with the page, its
// stylesheet and one script as strings, which the Worker serves at `/` (src/routes/dashboard.ts,
// imported as "realtime-edge:dashboard": an alias in wrangler.jsonc and vitest.config.ts). The
// script is bundled with esbuild from dashboard/src/main.ts with everything it imports
// (socket.io-client, yjs, y-websocket, the client SDK) from node_modules: no CDN. Not Workers
// static assets: with `assets` configured every request, WebSocket upgrades included, passes
// through an asset router Worker first, and every frame of every socket through one more hop
// (measured: +60% CPU and +40% memory per socket). dist/ is git-ignored.
//
// wrangler runs this itself before `wrangler dev` and `wrangler deploy` (wrangler.jsonc
// "build"), and again when dashboard/ changes under `wrangler dev`. The module is written to a
// temporary name and renamed, so a server reading it while another build runs (two test servers
// starting at once) never sees half a file.
//   node scripts/build-dashboard.mjs [--out DIR]   (default: dist/dashboard of the working directory)
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
// Relative to the working directory: wrangler runs the build beside its config.
const { values } = parseArgs({ options: { out: { type: "string", default: join("dist", "dashboard") } } });
const out = resolve(values.out);

const result = await build({
  entryPoints: [join(root, "dashboard", "src", "main.ts")],
  bundle: true,
  write: false,
  format: "esm",
  platform: "browser",
  target: "chrome120",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
const script = result.outputFiles[0]?.text;
if (script === undefined) throw new Error("esbuild produced no output");

// The module the Worker imports: every file with its content type, as text.
const source = (name) => readFileSync(join(root, "dashboard", name), "utf8");
const files = {
  "/index.html": { type: "text/html; charset=utf-8", body: source("index.html") },
  "/style.css": { type: "text/css; charset=utf-8", body: source("style.css") },
  "/app.js": { type: "text/javascript; charset=utf-8", body: script },
};
mkdirSync(out, { recursive: true });
const target = join(out, "files.mjs");
const tmp = `${target}.tmp-${process.pid}`;
writeFileSync(tmp, `export default ${JSON.stringify(files)};\n`);
renameSync(tmp, target);
