/**
 * A real `wrangler dev` for end-to-end tests in Node, isolated from the developer's setup:
 *
 * - It runs in a fresh temp dir that mirrors the repo (a copy of `src/`, symlinks to the other
 *   top-level entries) except `.wrangler`, `.dev.vars*` and `.env*`, with a copy of the repo's
 *   wrangler config. Wrangler
 *   puts its bundle under `<config dir>/.wrangler/tmp` and looks for `.dev.vars` beside the
 *   config, so the repo's `.wrangler` and `.dev.vars` are neither read nor written; Durable
 *   Object storage goes to `--persist-to <temp>/state`, so runs never share state.
 * - `JWT_SECRET` is a random secret for this run, in `<temp>/e2e.env` passed as `--env-file`:
 *   with `--env-file` wrangler does not load `.dev.vars` at all (and the secret stays out of
 *   `ps`). Checked: tokens signed with it are accepted, tokens signed with a `.dev.vars` or
 *   `--var` secret are not.
 * - Wrangler runs in its own process group (`detached`); `stop()` sends SIGTERM to the group,
 *   then SIGKILL to whatever is left, so no `workerd` or `esbuild` outlives the tests. The same
 *   happens if the test process exits or is interrupted first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { signToken, type TestClaims } from "../../helpers/tokens";

export type { TestClaims };

export interface DevServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>` */
  wsUrl: string;
  /** The run's JWT_SECRET. */
  secret: string;
  /** An HS256 token signed with the run's secret (default: `sub` "user-123", one hour). */
  sign(claims?: TestClaims): Promise<string>;
  /** Wrangler's output so far (stdout and stderr, the last 256 KiB). */
  output(): string;
  /** Stops wrangler and everything it started, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops wrangler (every socket drops, every Durable Object loses its memory) and starts it
   * again on the same port with the same persisted state: a restart of the runtime.
   */
  restart(): Promise<void>;
}

export interface DevServerOptions {
  /** How long to wait for `/healthz` (default 90 s: a cold start on 2 busy cores is slow). */
  readyTimeoutMs?: number;
  /** Echo wrangler's output to stderr as it comes (also on with E2E_VERBOSE=1). */
  verbose?: boolean;
  /**
   * Extra bindings for this run (e.g. `{ ALLOWED_ORIGINS: "http://127.0.0.1:5173" }`), written to
   * the `--env-file` beside `JWT_SECRET`: they override the config's `vars` like `.dev.vars` does.
   */
  vars?: Record<string, string>;
}

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WRANGLER_BIN = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const CONFIG_NAMES = ["wrangler.jsonc", "wrangler.json", "wrangler.toml"];
/** Not mirrored into the temp project: wrangler's state and every local secrets file. */
const NOT_MIRRORED = /^(\.wrangler|\.dev\.vars.*|\.env.*|\.git|wrangler\.(jsonc?|toml))$/;
const MAX_OUTPUT = 256 * 1024;

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const verbose = options.verbose ?? process.env.E2E_VERBOSE === "1";
  const configName = CONFIG_NAMES.find((name) => existsSync(join(REPO_ROOT, name)));
  if (!configName) throw new Error(`No wrangler config in ${REPO_ROOT}`);
  const extraVars = envFileText(options.vars ?? {});

  const dir = mkdtempSync(join(tmpdir(), "realtime-edge-e2e-"));
  const project = join(dir, "project");
  try {
    mirrorProject(project);
    copyFileSync(join(REPO_ROOT, configName), join(project, configName));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const secret = randomBytes(32).toString("base64url");
  const envFile = join(dir, "e2e.env");
  writeFileSync(envFile, `${extraVars}JWT_SECRET=${secret}\n`, { mode: 0o600 });
  const [port, inspectorPort] = await freePorts(2);
  const url = `http://127.0.0.1:${port}`;

  let output = "";
  const record = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-MAX_OUTPUT);
    if (verbose) process.stderr.write(chunk);
  };

  /** One wrangler process group; `restart()` replaces it with another on the same dir and port. */
  interface Run {
    child: ChildProcess;
    exited: Promise<void>;
    spawnError: () => Error | undefined;
    guard: { remove(): void };
  }
  const spawnRun = (): Run => {
    const child = spawn(
      process.execPath,
      [
        WRANGLER_BIN,
        "dev",
        "--config",
        join(project, configName),
        "--env-file",
        envFile,
        "--persist-to",
        join(dir, "state"),
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--inspector-port",
        String(inspectorPort),
        "--show-interactive-dev-session=false",
      ],
      {
        cwd: project,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: "false",
          // wrangler dev's whole output (kept for failure reports), whatever vitest.config.ts set
          // for the Workers pool; E2E_WRANGLER_LOG=debug shows more.
          WRANGLER_LOG: process.env.E2E_WRANGLER_LOG ?? "log",
          // --env-file is only read when this is on; process.env must not leak into the bindings.
          CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
          CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
          WRANGLER_LOG_PATH: join(dir, "logs"),
          WRANGLER_REGISTRY_PATH: join(dir, "registry"),
          NO_COLOR: "1",
          FORCE_COLOR: "0",
        },
      },
    );
    child.stdout?.on("data", record);
    child.stderr?.on("data", record);
    let spawnError: Error | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", (error) => {
        spawnError = error;
        record(Buffer.from(`\n[e2e] could not start wrangler: ${error.message}\n`));
        resolve();
      });
    });
    return { child, exited, spawnError: () => spawnError, guard: installExitGuard(child, dir) };
  };

  let run = spawnRun();
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await killGroup(run.child, run.exited);
      } finally {
        run.guard.remove();
        removeDir(dir);
      }
    })();
    return stopping;
  };

  const ready = async () => {
    try {
      await waitUntilHealthy(url, run.child, run.spawnError, readyTimeoutMs);
    } catch (error) {
      await stop();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`wrangler dev did not become ready: ${reason}\n--- wrangler output ---\n${output}`);
    }
  };
  await ready();

  const restart = async () => {
    if (stopping) throw new Error("restart after stop");
    await killGroup(run.child, run.exited);
    run.guard.remove();
    run = spawnRun();
    await ready();
  };

  return {
    url,
    wsUrl: url.replace(/^http/, "ws"),
    secret,
    sign: (claims = {}) => signToken(claims, secret),
    output: () => output,
    stop,
    restart,
  };
}

/** `KEY=value` lines; refuses what the dotenv format would read differently from what was given. */
function envFileText(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([key, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || key === "JWT_SECRET")
        throw new Error(`bad binding name ${JSON.stringify(key)}`);
      if (!/^[^\s#"'`\\]*$/.test(value)) throw new Error(`binding ${key}: value must have no spaces, quotes or #`);
      return `${key}=${value}\n`;
    })
    .join("");
}

/**
 * Copied, not linked: wrangler dev rebuilds and restarts the Worker (dropping every socket) when
 * a source file changes, and a test must not depend on nobody editing `src/` while it runs.
 */
const COPIED = new Set(["src", "package.json", "tsconfig.json"]);

/** Mirrors every top-level entry of the repo into `project` (sources copied), except state and secrets. */
function mirrorProject(project: string): void {
  const entries = readdirSync(REPO_ROOT).filter((name) => !NOT_MIRRORED.test(name));
  mkdirSync(project);
  for (const name of entries) {
    if (COPIED.has(name)) cpSync(join(REPO_ROOT, name), join(project, name), { recursive: true });
    else symlinkSync(join(REPO_ROOT, name), join(project, name));
  }
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function waitUntilHealthy(
  url: string,
  child: ChildProcess,
  spawnError: () => Error | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    const error = spawnError();
    if (error) throw error;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`wrangler exited (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      const text = await response.text();
      if (response.ok) return;
      last = `HTTP ${response.status}: ${text.slice(0, 200)}`;
    } catch (error) {
      last =
        error instanceof Error ? `${error.message}${error.cause ? ` (${String(error.cause)})` : ""}` : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`no healthy ${url}/healthz within ${timeoutMs} ms (last: ${last})`);
}

/** Whether any process of the group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + 5_000;
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  // The main process may be gone while workerd or esbuild still run: wait for the whole group.
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (groupAlive(pgid)) {
    signalGroup(pgid, "SIGKILL");
    const killDeadline = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < killDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (groupAlive(pgid)) throw new Error(`process group ${pgid} survived SIGKILL`);
  }
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * If this process ends before `stop()` (a crash, `process.exit`, Ctrl-C), the detached group
 * would be orphaned: kill it synchronously, then let the signal do what it would have done.
 */
function installExitGuard(child: ChildProcess, dir: string): { remove(): void } {
  const killNow = () => {
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
    try {
      removeDir(dir);
    } catch {
      // best effort while exiting
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    killNow();
    process.kill(process.pid, signal);
  };
  const remove = () => {
    process.off("exit", killNow);
    for (const signal of FORWARDED_SIGNALS) process.off(signal, onSignal);
  };
  process.once("exit", killNow);
  for (const signal of FORWARDED_SIGNALS) process.once(signal, onSignal);
  return { remove };
}
