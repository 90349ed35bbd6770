/**
 * The servers of a bench run, each on a free 127.0.0.1 port, each in its own process group so
 * that stop() ends it and everything it started:
 *
 * - edge: our `wrangler dev`, isolated the way test/e2e/helpers/dev-server.ts does it: a temp
 *   dir mirroring the repo (symlinks) without `.wrangler`, `.dev.vars*`, `.env*`, a copy of the
 *   wrangler config, a random JWT_SECRET in an `--env-file`, and Durable Object storage under
 *   `--persist-to <temp>/state`. The repo's `.dev.vars` and `.wrangler` are never read or
 *   written. restart() stops wrangler and starts it again on the same state (for load times).
 * - bare-do: bench/peers/bare-do (a minimal Worker + Durable Objects project) under the same
 *   wrangler, started by the same code (startWrangler) from a temp copy of its directory.
 * - socketio-peer: bench/peers/socketio-peer.mjs (socket.io + jose, the Equihome seed's shape).
 * - socketio-durable-peer: the same file, storing each ingested event in SQLite before answering.
 * - ws-peer: bench/peers/ws-peer.mjs (bare `ws` broadcast).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cmdline,
  connectedPorts,
  freePorts,
  groupProcesses,
  listeningPorts,
  sampleGroup,
  spawnGroup,
  waitHealthy,
} from "./procs.mjs";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BARE_DO_DIR = fileURLToPath(new URL("../peers/bare-do/", import.meta.url));
const WRANGLER_BIN = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const CONFIG_NAMES = ["wrangler.jsonc", "wrangler.json", "wrangler.toml"];
const NOT_MIRRORED = /^(\.wrangler|\.dev\.vars.*|\.env.*|\.git|wrangler\.(jsonc?|toml)|bench)$/;
/**
 * Copied, not linked: wrangler dev rebuilds and restarts the Worker (dropping every socket) when
 * a source file changes, and the repo's sources may change while a run is going on.
 */
const COPIED = new Set(["src", "package.json", "tsconfig.json"]);

/** The `compatibility_date` of the wrangler config in `dir` (null when none is found). */
export function compatibilityDate(dir) {
  const configName = CONFIG_NAMES.find((name) => existsSync(join(dir, name)));
  if (!configName) return null;
  const match = /"?compatibility_date"?\s*[:=]\s*"([0-9-]+)"/.exec(readFileSync(join(dir, configName), "utf8"));
  return match ? match[1] : null;
}

/**
 * Starts our service under `wrangler dev` on a fresh temp project (a mirror of the repo) and
 * state. With `ref` (a git commit, branch or tag), `src/` and `wrangler.jsonc` come from
 * `git archive <ref>` instead of the working tree (the repo is only read): the config names the
 * Durable Object classes and migrations of that commit's code. `name` tells two edges apart
 * (`edge`, and `edge-base` for --baseline-ref).
 */
export function startEdge({ secret, ref = null, name = "edge", readyTimeoutMs, verbose = false, viaProxy = false }) {
  return startWrangler({
    name,
    sourceDir: REPO_ROOT,
    mirror: (name) => (NOT_MIRRORED.test(name) || (ref && name === "src") ? null : COPIED.has(name) ? "copy" : "link"),
    prepare: ref
      ? (project) => {
          const tar = execFileSync("git", ["archive", "--format=tar", ref, "src", "wrangler.jsonc"], {
            cwd: REPO_ROOT,
            maxBuffer: 256 * 1024 * 1024,
          });
          execFileSync("tar", ["-x", "-C", project], { input: tar });
        }
      : undefined,
    envFile: `JWT_SECRET=${secret}\n`,
    readyTimeoutMs,
    verbose,
    viaProxy,
  });
}

/** Starts the bare-DO peer (bench/peers/bare-do) under `wrangler dev`, exactly as the edge. */
export function startBareDo({ readyTimeoutMs, verbose = false, viaProxy = false }) {
  return startWrangler({
    name: "bare-do",
    sourceDir: BARE_DO_DIR,
    mirror: (name) => (/^(\.wrangler|node_modules)$/.test(name) ? null : "copy"),
    envFile: "",
    readyTimeoutMs,
    verbose,
    viaProxy,
  });
}

/**
 * Starts `wrangler dev` (the repo's wrangler, on the project's Node) for the project in
 * `sourceDir`, from a temp project dir: each entry of `sourceDir` is copied, linked or left out
 * as `mirror(name)` says ("copy", "link" or null), the wrangler config is always copied, then
 * `prepare(projectDir)` may add to it.
 * `envFile` (the text of an `--env-file`) holds its secrets; `--persist-to` is a temp state dir;
 * the port is a free 127.0.0.1 port. Clients use the runtime workerd's own entry socket (not
 * wrangler's dev proxy) unless `viaProxy`.
 */
export async function startWrangler({
  name,
  sourceDir,
  mirror,
  prepare,
  envFile = "",
  readyTimeoutMs = 120_000,
  verbose = false,
  viaProxy = false,
}) {
  const configName = CONFIG_NAMES.find((file) => existsSync(join(sourceDir, file)));
  if (!configName) throw new Error(`No wrangler config in ${sourceDir}`);
  const dir = mkdtempSync(join(tmpdir(), `realtime-edge-bench-${name}-`));
  const project = join(dir, "project");
  const stateDir = join(dir, "state");
  try {
    mkdirSync(project);
    for (const entry of readdirSync(sourceDir)) {
      if (CONFIG_NAMES.includes(entry)) continue;
      const how = mirror(entry);
      if (how === "copy") cpSync(join(sourceDir, entry), join(project, entry), { recursive: true });
      else if (how === "link") symlinkSync(join(sourceDir, entry), join(project, entry));
    }
    copyFileSync(join(sourceDir, configName), join(project, configName));
    prepare?.(project);
    writeFileSync(join(dir, "bench.env"), envFile, { mode: 0o600 });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let proc = null;
  let url = "";
  let directUrl = "";
  const launch = async () => {
    const [port, inspectorPort] = await freePorts(2);
    url = `http://127.0.0.1:${port}`;
    proc = spawnGroup(
      process.execPath,
      [
        WRANGLER_BIN,
        "dev",
        "--config",
        join(project, configName),
        "--env-file",
        join(dir, "bench.env"),
        "--persist-to",
        stateDir,
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--inspector-port",
        String(inspectorPort),
        "--show-interactive-dev-session=false",
        "--log-level",
        "warn",
      ],
      {
        cwd: project,
        label: `wrangler dev (${name})`,
        onOutput: verbose ? (chunk) => process.stderr.write(chunk) : undefined,
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: "false",
          CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
          CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
          WRANGLER_LOG_PATH: join(dir, "logs"),
          WRANGLER_REGISTRY_PATH: join(dir, "registry"),
          NO_COLOR: "1",
          FORCE_COLOR: "0",
        },
      },
    );
    const started = performance.now();
    try {
      await waitHealthy(`${url}/healthz`, proc, readyTimeoutMs);
      directUrl = await findRuntimeEntry();
    } catch (error) {
      const output = proc.output();
      await proc.stop();
      throw new Error(
        `wrangler dev (${name}) did not become ready: ${error.message}\n--- wrangler output ---\n${output}`,
      );
    }
    return performance.now() - started;
  };

  /**
   * The runtime workerd's own entry socket (it listens on a random port beside its inspector):
   * the one of its listening ports that answers /healthz. Clients that connect there skip
   * wrangler's dev proxy, which holds 4 file descriptors per WebSocket and so cannot carry
   * 5,000 sockets under a 20,000 open-files limit.
   */
  const findRuntimeEntry = async () => {
    const publicEntry = `entry=127.0.0.1:${new URL(url).port} `;
    const workerds = groupProcesses(proc.pgid).filter((p) => p.comm === "workerd");
    const runtime = workerds.find((p) => !`${cmdline(p.pid)} `.includes(publicEntry));
    const devProxy = workerds.find((p) => `${cmdline(p.pid)} `.includes(publicEntry));
    if (!runtime) throw new Error("no runtime workerd under wrangler dev");
    // Probe only the ports the dev proxy is connected to (the entry, and the inspector, both
    // HTTP): an HTTP request to the runtime's Cap'n Proto --debug-port makes it log a
    // "NOSENTRY RPC connection broken … traversalLimitInWords" warning.
    const listening = listeningPorts(runtime.pid);
    const viaProxy = devProxy ? new Set(connectedPorts(devProxy.pid)) : new Set();
    const candidates = listening.filter((port) => viaProxy.has(port));
    for (const port of candidates.length > 0 ? candidates : listening) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
        const text = await response.text();
        if (response.ok && text.includes('"ok"')) return `http://127.0.0.1:${port}`;
      } catch {
        // not this one
      }
    }
    throw new Error(`no entry socket of the runtime workerd (pid ${runtime.pid}) answers /healthz`);
  };

  const removeDir = () => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  // Should the bench exit without stop() (a crash), the temp dir goes too.
  process.on("exit", removeDir);
  let outputs = [];
  try {
    await launch();
  } catch (error) {
    process.off("exit", removeDir);
    removeDir();
    throw error;
  }
  let stopped = false;
  return {
    name,
    /** wrangler dev's public URL (through its dev proxy). */
    get proxyUrl() {
      return url;
    },
    /** The runtime's own entry (no dev proxy). */
    get directUrl() {
      return directUrl;
    },
    /** What the clients use: the runtime's entry, or the public URL with `viaProxy`. */
    get url() {
      return viaProxy ? url : directUrl;
    },
    get wsUrl() {
      return this.url.replace(/^http/, "ws");
    },
    stateDir,
    /**
     * CPU of wrangler and everything it runs; RSS of its two workerd processes by role: the
     * "runtime" that runs the Worker and its Durable Objects (and holds the sockets), and
     * wrangler's "dev-proxy", which listens on the public port and relays every request and
     * WebSocket to the runtime (a wrangler dev layer that production does not have).
     */
    sample: () => {
      const publicEntry = `entry=127.0.0.1:${new URL(url).port} `;
      return sampleGroup(proc.pgid, (p) =>
        p.comm !== "workerd" ? null : `${cmdline(p.pid)} `.includes(publicEntry) ? "dev-proxy" : "runtime",
      );
    },
    /** The process that runs the Worker and the Durable Objects and holds the sockets. */
    mainRole: "runtime",
    alive: () => proc?.running() ?? false,
    output: () => [...outputs, proc?.output() ?? ""].join("\n--- restart ---\n"),
    outputMark: () => ({ proc, at: proc.outputMark() }),
    outputSince: (mark) => (mark.proc === proc ? proc.outputSince(mark.at) : proc.output()),
    /**
     * Stops wrangler, runs `whileStopped()` (the state files are quiet then), and starts it again
     * on the same state; resolves with the time wrangler took to become healthy (ms).
     */
    async restart(whileStopped) {
      outputs.push(proc.output());
      outputs = outputs.slice(-2);
      await proc.stop();
      await whileStopped?.();
      return launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await proc?.stop();
      } finally {
        process.off("exit", removeDir);
        removeDir();
      }
    },
  };
}

/**
 * Starts one of the Node peers (bench/peers/<file>) and waits for its /healthz. `env` adds to
 * its environment; with `withTempDir` it gets a fresh temp dir in PEER_TEMP_DIR, removed at stop.
 */
export async function startPeer({ name, file, secret, env = {}, withTempDir = false, readyTimeoutMs = 30_000 }) {
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${port}`;
  const dir = withTempDir ? mkdtempSync(join(tmpdir(), `realtime-edge-bench-${name}-`)) : null;
  const removeDir = () => {
    if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  process.on("exit", removeDir);
  const proc = spawnGroup(process.execPath, [fileURLToPath(new URL(`../peers/${file}`, import.meta.url))], {
    cwd: REPO_ROOT,
    label: name,
    env: {
      ...process.env,
      ...env,
      PEER_PORT: String(port),
      PEER_JWT_SECRET: secret,
      ...(dir ? { PEER_TEMP_DIR: dir } : {}),
    },
  });
  const stop = async () => {
    try {
      await proc.stop();
    } finally {
      process.off("exit", removeDir);
      removeDir();
    }
  };
  try {
    await waitHealthy(`${url}/healthz`, proc, readyTimeoutMs);
  } catch (error) {
    const output = proc.output();
    await stop();
    throw new Error(`${name} did not become ready: ${error.message}\n--- output ---\n${output}`);
  }
  return {
    name,
    url,
    wsUrl: url.replace(/^http/, "ws"),
    tempDir: dir,
    sample: () => sampleGroup(proc.pgid, (p) => (p.pid === proc.pgid ? "node" : null)),
    mainRole: "node",
    alive: () => proc.running(),
    output: () => proc.output(),
    outputMark: () => ({ proc, at: proc.outputMark() }),
    outputSince: (mark) => proc.outputSince(mark.at),
    stop,
  };
}

export const newSecret = () => randomBytes(32).toString("base64url");
