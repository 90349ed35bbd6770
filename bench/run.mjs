#!/usr/bin/env node
/**
 * The benchmark orchestrator (`npm run bench`, `npm run bench -- --quick`, `-- --tiny`).
 *
 * Starts three servers on free 127.0.0.1 ports: our `wrangler dev` (isolated temp project,
 * random secret, own state) and the two peers (bench/peers), then runs each scenario against
 * each target with the load generator in a separate process (bench/loadgen.mjs), sampling the
 * server's CPU and RSS around it. Writes bench/results/<timestamp>.json, latest.json and
 * latest.md (or into --out DIR). Stops every server whatever happens; every loop is bounded.
 *
 * Options: --quick (< 2 min), --tiny (~30 s, for the test), --out DIR, --verbose (wrangler's
 * output), --scenarios a,b (connections, fanout, ingest, collab), --via-proxy (clients use
 * wrangler dev's public port, through its dev proxy, instead of the runtime's own entry).
 */
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { documentState } from "./lib/doc-state.mjs";
import { machineBusySeconds } from "./lib/machine.mjs";
import { buildRows, renderMarkdown } from "./lib/report.mjs";
import { newSecret, REPO_ROOT, startEdge, startPeer } from "./lib/servers.mjs";
import { round } from "./lib/stats.mjs";

/** Terminal colour codes, stripped from the server output kept as evidence. */
const ANSI_COLOURS = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const LOADGEN = fileURLToPath(new URL("./loadgen.mjs", import.meta.url));

const PROFILES = {
  full: {
    fanout: { ns: [100, 1000, 5000], rate: 20, rateEvents: 60, maxBurst: 200, burstMessages: 100_000, minBurst: 20 },
    connections: { n: 5000 },
    ingest: { seconds: 4, maxEvents: 50_000, concurrency: 8 },
    collab: { editors: [10, 50], rate: 50, seconds: 4, docEdits: 10_000, docEditors: 3, docCapMs: 180_000 },
    drainIdleMs: 10_000,
    drainCapMs: 90_000,
    settleMs: 1_000,
  },
  quick: {
    fanout: { ns: [100, 1000], rate: 20, rateEvents: 30, maxBurst: 100, burstMessages: 30_000, minBurst: 20 },
    connections: { n: 1000 },
    ingest: { seconds: 1, maxEvents: 20_000, concurrency: 8 },
    collab: { editors: [10], rate: 50, seconds: 2, docEdits: 2_000, docEditors: 3, docCapMs: 40_000 },
    drainIdleMs: 5_000,
    drainCapMs: 30_000,
    settleMs: 600,
  },
  tiny: {
    fanout: { ns: [50], rate: 20, rateEvents: 20, maxBurst: 20, burstMessages: 1_000, minBurst: 20 },
    connections: { n: 100 },
    ingest: { seconds: 0.5, maxEvents: 5_000, concurrency: 8 },
    collab: { editors: [3], rate: 20, seconds: 1, docEdits: 200, docEditors: 2, docCapMs: 15_000 },
    drainIdleMs: 3_000,
    drainCapMs: 10_000,
    settleMs: 400,
  },
};
const CONCURRENCY = 50; // sockets being opened at once, every target
const SCENARIOS = ["connections", "fanout", "ingest", "collab"];
const PEER_NA = "not applicable: the peers have no shared documents (no Yjs, no persistence)";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    out: { type: "string" },
    verbose: { type: "boolean", default: false },
    scenarios: { type: "string" },
    "via-proxy": { type: "boolean", default: false },
  },
});
const mode = args.tiny ? "tiny" : args.quick ? "quick" : "full";
const profile = PROFILES[mode];
const selected = args.scenarios ? args.scenarios.split(",").map((s) => s.trim()) : SCENARIOS;
for (const name of selected) if (!SCENARIOS.includes(name)) fail(`unknown scenario ${name}`);
const outDir = resolve(args.out ?? join(REPO_ROOT, "bench", "results"));

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  fail(`Node ${process.versions.node} is too old for wrangler: run \`npm run bench\` (it uses the project's Node 24)`);
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const t0 = performance.now();
const log = (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const tag = Math.random().toString(36).slice(2, 8);
const secret = newSecret();
const problems = [];

const results = {
  meta: {
    mode,
    startedAt: new Date().toISOString(),
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    loadAverageAtStart: loadavg().map((v) => round(v)),
    versions: versions(),
    gitCommit: gitCommit(),
    scenarios: selected,
    edgeEntry: args["via-proxy"]
      ? "wrangler dev's public port: every request and WebSocket relayed by its dev proxy (a second workerd)"
      : "the runtime workerd's own entry socket (wrangler dev's dev proxy skipped: it holds 4 file descriptors per WebSocket, so it cannot carry 5,000 sockets under this machine's 20,000 open-files limit)",
    clientHarness:
      "ws 8 (no compression) for the JSON protocol and the ws peer; socket.io-client 4.8 with transports: ['websocket'], no reconnection, no compression, for Socket.IO",
    clock: "performance.timeOrigin + performance.now() in the load generator, which both sends and receives",
  },
  servers: {},
  scenarios: {},
  problems,
};

let servers = {};
let stopping = null;
let written = false;

function stopAll() {
  stopping ??= Promise.allSettled(Object.values(servers).map((server) => server.stop()));
  return stopping;
}

let aborted = null;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    aborted = signal;
    log(`${signal}: stopping the servers`);
    problems.push({ where: "bench", error: `interrupted by ${signal}` });
    // Bounded: whatever is still running after 20 s is killed by the exit hook (SIGKILL).
    const cap = setTimeout(() => process.exit(130), 20_000);
    void stopAll().finally(() => {
      clearTimeout(cap);
      writeResults();
      process.exit(130);
    });
  });
}

try {
  await main();
} catch (error) {
  problems.push({ where: "bench", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  console.error(error);
  process.exitCode = 1;
} finally {
  await stopAll();
  log("servers stopped");
}
writeResults();

async function main() {
  log(`mode ${mode}: starting wrangler dev and the two peers on 127.0.0.1`);
  const started = await Promise.allSettled([
    startEdge({ secret, verbose: args.verbose, viaProxy: args["via-proxy"] }),
    startPeer({ name: "socketio-peer", file: "socketio-peer.mjs", secret }),
    startPeer({ name: "ws-peer", file: "ws-peer.mjs", secret }),
  ]);
  const [edge, sio, ws] = started.map((s) => (s.status === "fulfilled" ? s.value : null));
  servers = Object.fromEntries(
    [
      ["edge", edge],
      ["socketio-peer", sio],
      ["ws-peer", ws],
    ].filter(([, server]) => server),
  );
  const failed = started.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  for (const [name, server] of Object.entries(servers)) {
    const sample = server.sample();
    results.servers[name] = {
      url: server.url,
      ...(server.proxyUrl ? { publicUrl: server.proxyUrl } : {}),
      startRssKiB: sample.rssByRole,
      processes: sample.processes,
    };
  }
  const edgeWhere = args["via-proxy"]
    ? "wrangler dev's public port"
    : `runtime entry; wrangler dev on ${edge.proxyUrl}`;
  log(`ready: edge ${edge.url} (${edgeWhere}), socketio-peer ${sio.url}, ws-peer ${ws.url}`);

  const targets = {
    "edge-json": edge,
    "edge-sio": edge,
    "sio-peer": sio,
    "ws-peer": ws,
  };

  if (selected.includes("connections")) await connections(targets);
  if (selected.includes("fanout")) await fanout(targets);
  if (selected.includes("ingest")) await ingest(targets);
  if (selected.includes("collab")) await collab(edge);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function connections(targets) {
  const params = { n: profile.connections.n, concurrency: CONCURRENCY, warmup: 20, settleMs: profile.settleMs };
  const runs = [];
  results.scenarios.connections = { params, runs };
  for (const target of ["edge-json", "sio-peer", "ws-peer"]) {
    const server = targets[target];
    const samples = {};
    const run = await runJob({ scenario: "connections", target, ...params }, server, async (name) => {
      // Give the server a moment, then read its RSS (workerd for the edge; node for a peer).
      await new Promise((r) => setTimeout(r, profile.settleMs / 2));
      samples[name] = server.sample();
    });
    if (run.result && samples.baseline && samples.open) {
      const perSocket = (before, after) =>
        run.result.opened > 0 && before !== undefined && after !== undefined
          ? Math.round(((after - before) * 1024) / run.result.opened)
          : null;
      const { baseline, open } = samples;
      // The edge's headline is its runtime workerd (what holds the sockets in production too);
      // wrangler's dev proxy is reported beside it. A peer has one process.
      const main = target === "edge-json" ? "runtime" : "node";
      run.result.memory = {
        baselineRssKiB: baseline.rssByRole,
        openRssKiB: open.rssByRole,
        perProcess: open.rssPids,
        perSocketBytes: perSocket(baseline.rssByRole[main], open.rssByRole[main]),
        ...(target === "edge-json"
          ? {
              devProxyPerSocketBytes: perSocket(baseline.rssByRole["dev-proxy"], open.rssByRole["dev-proxy"]),
              allProcessesPerSocketBytes: perSocket(baseline.rssKiB, open.rssKiB),
            }
          : {}),
      };
    }
    runs.push(run);
  }
}

async function fanout(targets) {
  const f = profile.fanout;
  const params = {
    ns: f.ns,
    rate: f.rate,
    rateEvents: f.rateEvents,
    burst: "sequential single-event posts, one in flight",
    concurrency: CONCURRENCY,
  };
  const runs = [];
  results.scenarios.fanout = { params, runs };
  for (const n of f.ns) {
    const burstEvents = Math.max(f.minBurst, Math.min(f.maxBurst, Math.round(f.burstMessages / n)));
    for (const target of ["edge-json", "edge-sio", "sio-peer", "ws-peer"]) {
      runs.push(
        await runJob(
          {
            scenario: "fanout",
            target,
            n,
            rate: f.rate,
            rateEvents: f.rateEvents,
            burstEvents,
            burstCapMs: 30_000,
            concurrency: CONCURRENCY,
            drainIdleMs: profile.drainIdleMs,
            drainCapMs: profile.drainCapMs,
          },
          targets[target],
        ),
      );
    }
  }
}

async function ingest(targets) {
  const params = { ...profile.ingest };
  const runs = [];
  results.scenarios.ingest = {
    params,
    runs,
    note: "edge: /v1/ingest answers after the events are stored in the topic's SQLite (durable); peers: /publish answers after broadcasting, nothing stored (not durable)",
  };
  for (const target of ["edge-json", "sio-peer", "ws-peer"]) {
    runs.push(await runJob({ scenario: "ingest", target, ...params }, targets[target]));
  }
}

async function collab(edge) {
  const c = profile.collab;
  const scenario = { params: { ...c }, latency: [], document: null, peers: PEER_NA };
  results.scenarios.collab = scenario;
  for (const editors of c.editors) {
    scenario.latency.push(
      await runJob(
        {
          scenario: "collab-latency",
          target: "edge-json",
          editors,
          rate: c.rate,
          seconds: c.seconds,
          drainIdleMs: profile.drainIdleMs,
          drainCapMs: profile.drainCapMs,
        },
        edge,
      ),
    );
  }
  const doc = await runJob(
    {
      scenario: "collab-doc",
      target: "edge-json",
      editors: c.docEditors,
      edits: c.docEdits,
      capMs: c.docCapMs,
      drainIdleMs: profile.drainIdleMs,
      drainCapMs: profile.drainCapMs,
    },
    edge,
    null,
    c.docCapMs + 60_000,
  );
  scenario.document = doc;
  if (!doc.result || aborted) return;
  // Load time: restart wrangler dev on the same state, then time the first GET of the document
  // (the document's Durable Object loads its snapshot and log from SQLite before answering).
  log("collab: restarting wrangler dev on the same state to time a cold document load");
  const name = `fund:${doc.result.fund}`;
  let stored = null;
  const restartMs = await edge.restart(async () => {
    stored = await documentState(edge.stateDir, name);
  });
  doc.result.stored = stored;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(`reader-${tag}`)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(secret));
  const get = async () => {
    const started = performance.now();
    const response = await fetch(`${edge.url}/v1/resources/fund/${doc.result.fund}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    const ms = performance.now() - started;
    if (response.status !== 200) throw new Error(`GET after restart: ${response.status} ${text.slice(0, 300)}`);
    return { ms: round(ms), bytes: Buffer.byteLength(JSON.stringify(JSON.parse(text).document)) };
  };
  try {
    const cold = await get();
    const warm = await get();
    doc.result.afterRestart = {
      wranglerRestartMs: round(restartMs, 0),
      firstGetMs: cold.ms,
      secondGetMs: warm.ms,
      documentJsonBytes: cold.bytes,
      sameDocument: cold.bytes === doc.result.documentJsonBytes,
    };
    log(
      `collab: document ${doc.result.documentJsonBytes} B JSON, ${stored?.yjsStateBytes ?? "?"} B stored; first GET after restart ${cold.ms} ms`,
    );
  } catch (error) {
    problems.push({ where: "collab document load", error: error.message, serverOutput: tail(edge.output()) });
  }
}

// ---------------------------------------------------------------------------------------------
// Running the load generator

/**
 * Runs one job in a fresh load-generator process, with the server's CPU (and the machine's)
 * sampled around it. `onCheckpoint(name)` runs when the load generator pauses at a checkpoint.
 */
async function runJob(job, server, onCheckpoint = null, timeoutMs = 300_000) {
  const label = `${job.scenario} ${job.target}${job.n ? ` N=${job.n}` : ""}${job.editors ? ` editors=${job.editors}` : ""}`;
  const entry = { target: job.target, ...(job.n ? { n: job.n } : {}), job: { ...job } };
  if (aborted) {
    entry.error = `not run: interrupted by ${aborted}`;
    return entry;
  }
  if (!server?.alive() || !(await healthy(server))) {
    // A server that died or hangs is evidence; the edge is restarted (same state) so that the
    // scenarios after this one still measure something.
    const why = server?.alive() ? "not answering /healthz within 5 s" : "not running";
    problems.push({
      where: label,
      error: `before the run: the server is ${why}`,
      serverOutput: tail(server?.output() ?? ""),
    });
    if (server?.restart) {
      log(`${label}: the server is ${why}; restarting wrangler dev`);
      try {
        await server.restart();
        entry.serverRestartedBefore = why;
      } catch (error) {
        entry.error = `restart failed: ${error.message.split("\n")[0]}`;
      }
    } else entry.error = `server ${why}`;
    if (entry.error) {
      log(`${label}: SKIPPED, ${entry.error}`);
      return entry;
    }
  }
  log(`${label}: start`);
  const outputMark = server.outputMark();
  const s0 = server.sample();
  const m0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  const w0 = performance.now();
  const child = fork(LOADGEN, [], {
    env: { ...process.env, BENCH_JWT_SECRET: secret },
    stdio: ["ignore", "inherit", "pipe", "ipc"],
    serialization: "json",
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const outcome = await new Promise((resolvePromise) => {
    let settled = false;
    const settle = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise(value);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      settle({ ok: false, error: `load generator timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.on("message", async (message) => {
      if (message.type === "progress") log(message.line);
      else if (message.type === "checkpoint") {
        try {
          await onCheckpoint?.(message.name, message.info);
        } finally {
          if (child.connected) child.send({ type: "continue" });
        }
      } else if (message.type === "result") settle(message);
    });
    child.on("exit", (code, signal) => settle({ ok: false, error: `load generator exited (${code ?? signal})` }));
    child.on("error", (error) => settle({ ok: false, error: error.message }));
    child.send({
      type: "run",
      job: {
        ...job,
        tag: `${tag}${job.n ?? job.editors ?? ""}${job.target.replace(/[^a-z]/g, "")}`,
        httpUrl: server.url,
        wsUrl: server.wsUrl,
      },
    });
  });
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill("SIGKILL");
        r();
      }, 5_000);
      child.once("exit", () => {
        clearTimeout(t);
        r();
      });
    });
  }
  const wallS = (performance.now() - w0) / 1000;
  const s1 = server.alive() ? server.sample() : null;
  const m1 = machineBusySeconds();
  const self = process.cpuUsage(self0);
  const serverCpuS = s1 ? s1.cpuSeconds - s0.cpuSeconds : null;
  const loadgenCpuS = outcome.ok ? outcome.result.loadgenWhole.cpuMs / 1000 : null;
  const selfCpuS = (self.user + self.system) / 1e6;
  entry.server = {
    cpuPercent: serverCpuS === null ? null : round((serverCpuS / wallS) * 100, 1),
    rssKiBBefore: s0.rssKiB,
    rssKiBAfter: s1?.rssKiB ?? null,
  };
  if (m0 !== null && m1 !== null) {
    const machine = m1 - m0;
    entry.machine = {
      busyPercentOfAllCores: round((machine / wallS / cpus().length) * 100, 1),
      otherProcessesCpuPercent:
        serverCpuS === null || loadgenCpuS === null
          ? null
          : round((Math.max(0, machine - serverCpuS - loadgenCpuS - selfCpuS) / wallS) * 100, 1),
    };
  }
  if (outcome.ok) entry.result = outcome.result;
  else {
    entry.error = outcome.error;
    problems.push({ where: label, error: outcome.error, loadgenStderr: stderr.slice(-4_000) });
    log(`${label}: FAILED: ${String(outcome.error).split("\n")[0]}`);
  }
  // Evidence: anything the server printed that looks like an error, and whether it survived.
  const newOutput = server.outputSince(outputMark).replace(ANSI_COLOURS, "");
  const counts = new Map();
  for (const raw of newOutput.split("\n")) {
    const line = raw.trim();
    if (!/error|exception|✘|uncaught|crash/i.test(line)) continue;
    if (/Request\.cf|workers\.cloudflare\.com|getaddrinfo/.test(line)) continue;
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  if (counts.size > 0) {
    entry.serverErrorLines = [...counts].slice(0, 20).map(([line, count]) => ({ count, line: line.slice(0, 500) }));
    problems.push({ where: label, error: "the server printed errors", lines: entry.serverErrorLines });
  }
  const pids = (sample) =>
    (sample?.rssPids ?? [])
      .map((p) => p.pid)
      .sort()
      .join(",");
  if (s1 && pids(s0) !== pids(s1)) {
    entry.serverProcessesChanged = { before: s0.rssPids, after: s1.rssPids };
    problems.push({
      where: label,
      error: `the server's runtime processes changed during the run (restarted?): ${pids(s0)} → ${pids(s1)}`,
      serverOutput: tail(newOutput),
    });
  }
  if (!server.alive()) {
    entry.serverDied = true;
    problems.push({ where: label, error: "the server exited during the job", serverOutput: tail(server.output()) });
    log(`${label}: the server EXITED`);
  }
  const lost = entry.result?.lost;
  if (lost > 0) problems.push({ where: label, error: `${lost} messages lost` });
  return entry;
}

async function healthy(server) {
  try {
    const response = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function tail(text, chars = 4_000) {
  return text.slice(-chars);
}

// ---------------------------------------------------------------------------------------------
// Output

function writeResults() {
  if (written) return;
  written = true;
  if (aborted) results.meta.interruptedBy = aborted;
  results.meta.finishedAt = new Date().toISOString();
  results.meta.durationSeconds = round((performance.now() - t0) / 1000, 1);
  results.meta.loadAverageAtEnd = loadavg().map((v) => round(v));
  results.rows = buildRows(results);
  mkdirSync(outDir, { recursive: true });
  const stamp = results.meta.startedAt.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(outDir, `${stamp}.json`), json);
  writeFileSync(join(outDir, "latest.json"), json);
  const markdown = renderMarkdown(results);
  writeFileSync(join(outDir, "latest.md"), markdown);
  console.log(`\n${markdown}`);
  log(`wrote ${join(outDir, `${stamp}.json`)}, latest.json and latest.md`);
}

function versions() {
  const read = (name) => {
    try {
      return JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  return {
    wrangler: read("wrangler"),
    "socket.io": read("socket.io"),
    "socket.io-client": read("socket.io-client"),
    ws: read("ws"),
    jose: read("jose"),
  };
}

function gitCommit() {
  try {
    const git = (...argv) => execFileSync("git", argv, { cwd: REPO_ROOT, encoding: "utf8", timeout: 5_000 }).trim();
    return { head: git("rev-parse", "HEAD"), dirty: git("status", "--porcelain", "--", "src").length > 0 };
  } catch {
    return null;
  }
}
