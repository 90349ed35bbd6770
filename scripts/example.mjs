// Runs one of the examples in examples/ against a running service (`npm run dev`):
//   npm run example -- equihome|quantenergx|react|python [--url http://127.0.0.1:8787] [--user user-123]
//                      [--port 5173 (react: the page's port)] [--secret S (instead of .dev.vars')]
// It signs two tokens with the local JWT_SECRET (.dev.vars, which `npm run dev` creates), as
// `npm run token` does: the user's (`sub` = --user) and a publisher's (scope `publish`), which
// the example uses to post its demo events to /v1/ingest. TOKEN and PUBLISH_TOKEN in the
// environment are used instead when set (tokens from your own issuer, or for a deployed service).
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { signLocalToken } from "./local-token.mjs";

const EXAMPLES = {
  equihome: [process.execPath, "equihome/run.mjs"],
  quantenergx: [process.execPath, "quantenergx/run.ts"],
  react: [process.execPath, "react/serve.ts"],
  python: [null, "-u", "python/example.py"],
};

/** A Python that has python-socketio: $PYTHON, else `python3`, else Debian's /usr/bin/python3. */
function findPython() {
  const candidates = process.env.PYTHON ? [process.env.PYTHON] : ["python3", "/usr/bin/python3"];
  const found = candidates.find(
    (python) => spawnSync(python, ["-c", "import socketio"], { stdio: "ignore", timeout: 15_000 }).status === 0,
  );
  if (found) return found;
  console.error(
    `no python-socketio under ${candidates.join(" or ")}: apt install python3-socketio, or pip install "python-socketio[client]" (or set PYTHON)`,
  );
  process.exit(1);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
    user: { type: "string", default: "user-123" },
    port: { type: "string", default: "5173" },
    secret: { type: "string" },
  },
});
const [name] = positionals;
if (!name || !Object.hasOwn(EXAMPLES, name)) {
  console.error(`usage: npm run example -- ${Object.keys(EXAMPLES).join("|")} [--url URL] [--user ID] [--port N]`);
  process.exit(2);
}

const { secret } = values; // undefined: the JWT_SECRET of .dev.vars
const token = process.env.TOKEN || (await signLocalToken({ sub: values.user, secret }));
const publishToken =
  process.env.PUBLISH_TOKEN || (await signLocalToken({ sub: "example-publisher", scope: "publish", secret }));

const [program, ...args] = EXAMPLES[name];
const command = program ?? findPython();
const last = args.length - 1;
args[last] = fileURLToPath(new URL(`../examples/${args[last]}`, import.meta.url));
const child = spawn(command, args, {
  stdio: "inherit",
  env: {
    ...process.env,
    SERVER: values.url.replace(/^ws/, "http"),
    USER_ID: values.user,
    TOKEN: token,
    PUBLISH_TOKEN: publishToken,
    PORT: values.port,
  },
});
child.once("error", (error) => {
  console.error(`could not start ${command}: ${error.message}`);
  process.exit(1);
});
// Ctrl-C reaches the example too (same process group); a signal sent to this process alone is passed on.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.once("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
