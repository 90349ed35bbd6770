// Builds the dashboard (dashboard/) into dist/dashboard/: the page, its stylesheet, and one
// script bundled with esbuild from dashboard/src/main.ts with everything it imports
// (socket.io-client, yjs, y-websocket, the client SDK) from node_modules: no CDN. Then
// files.mjs, a module with the three files as strings, which the Worker serves at `/`
// (src/routes/dashboard.ts, imported as "realtime-edge:dashboard": an alias in wrangler.jsonc
// and vitest.config.ts). Not Workers static assets: with `assets` configured every request,
// WebSocket upgrades included, passes through an asset router Worker first, and every frame of
// every socket through one more hop (measured: +60% CPU and +40% memory per socket). dist/ is
// git-ignored.
//
// wrangler runs this itself before `wrangler dev` and `wrangler deploy` (wrangler.jsonc
// "build"), and again when dashboard/ changes under `wrangler dev`. Each file is written to a
// temporary name and renamed, so a server reading the directory while another build runs (two
// test servers starting at once) never sees half a file.
//   node scripts/build-dashboard.mjs [--out DIR]   (default: dist/dashboard of the working directory)
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
// Relative to the working directory: wrangler runs the build beside its config.
const { values } = parseArgs({ options: { out: { type: "string", default: join("dist", "dashboard") } } });
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
const tag = `.tmp-${process.pid}`;

function put(name, write) {
  const target = join(out, name);
  mkdirSync(dirname(target), { recursive: true });
  write(`${target}${tag}`);
  renameSync(`${target}${tag}`, target);
}

const result = await build({
  entryPoints: [join(root, "dashboard", "src", "main.ts")],
  bundle: true,
  write: false,
  format: "esm",
  platform: "browser",
  target: "chrome120",
  minify: true,
  sourcemap: false,
  outdir: out,
  entryNames: "app",
  legalComments: "none",
  logLevel: "warning",
});
for (const file of result.outputFiles) put(file.path.slice(out.length + 1), (tmp) => writeFileSync(tmp, file.contents));
for (const name of ["index.html", "style.css"]) put(name, (tmp) => copyFileSync(join(root, "dashboard", name), tmp));

// The module the Worker imports: every file with its content type, as text.
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
};
const files = {};
for (const name of ["index.html", "style.css", "app.js"]) {
  const body = readFileSync(join(out, name), "utf8");
  files[`/${name}`] = { type: TYPES[name.slice(name.lastIndexOf("."))], body };
}
put("files.mjs", (tmp) => writeFileSync(tmp, `export default ${JSON.stringify(files)};\n`));
