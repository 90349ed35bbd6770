// Builds the dashboard (dashboard/) into dist/dashboard/, the Worker's static assets
// (wrangler.jsonc "assets"): the page, its stylesheet, and one script bundled with esbuild from
// dashboard/src/main.ts with everything it imports (socket.io-client, yjs, y-websocket, the
// client SDK) from node_modules: no CDN. dist/ is git-ignored.
//
// wrangler runs this itself before `wrangler dev` and `wrangler deploy` (wrangler.jsonc
// "build"), and again when dashboard/ changes under `wrangler dev`. Each file is written to a
// temporary name and renamed, so a server reading the directory while another build runs (two
// test servers starting at once) never sees half a file.
//   node scripts/build-dashboard.mjs [--out DIR]   (default: dist/dashboard of the working directory)
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
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
  sourcemap: "linked",
  outdir: out,
  entryNames: "app",
  legalComments: "none",
  logLevel: "warning",
});
for (const file of result.outputFiles) put(file.path.slice(out.length + 1), (tmp) => writeFileSync(tmp, file.contents));
for (const name of ["index.html", "style.css"]) put(name, (tmp) => copyFileSync(join(root, "dashboard", name), tmp));
