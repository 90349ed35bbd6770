#!/usr/bin/env node
/**
 * The benchmark orchestrator (`npm run bench`, `npm run bench -- --quick`, `-- --tiny`).
 *
 * Starts the servers on free 127.0.0.1 ports: our `wrangler dev` (isolated temp project, random
 * secret, own state), the bare-DO peer under the same wrangler (bench/peers/bare-do), and the Node
 * peers (bench/peers: socket.io, socket.io with durable ingest, bare ws). Then runs each scenario
 * against each target, every scenario `reps` times (targets interleaved within a repetition),
 * with the load generator in a separate process (bench/loadgen.mjs), sampling the server's CPU
 * and RSS around it and around each of its phases. Writes bench/results/<timestamp>.json,
 * latest.json and latest.md (or into --out DIR). Stops every server whatever happens; every loop
 * is bounded.
 *
 * Options: --quick (~4 min), --tiny (~40 s, for the test), --out DIR, --verbose (wrangler's
 * output), --scenarios a,b (connections, fanout, latency, throughput, ingest, collab), --reps N
 * (repetitions; default 3, tiny 1), --durable-sync full|normal (the durable socket.io peer's
 * SQLite `synchronous`), --edge-ref REF (run the edge from `src/` of a commit instead of the
 * working tree), --baseline-ref REF (also run the edge of commit REF as one more target,
 * `edge @base`, in the same run: the before/after of a change, measured side by side), --via-proxy (clients use wrangler dev's public port, through its dev proxy,
 * instead of the runtime's own entry).
 */
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { documentState } from "./lib/doc-state.mjs";
import { machineBusySeconds } from "./lib/machine.mjs";
import { buildRows, renderMarkdown } from "./lib/report.mjs";
import {
  BARE_DO_DIR,
  compatibilityDate,
  newSecret,
  REPO_ROOT,
  startBareDo,
  startEdge,
  startPeer,
} from "./lib/servers.mjs";
import { round } from "./lib/stats.mjs";

/** Terminal colour codes, stripped from the server output kept as evidence. */
const ANSI_COLOURS = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const LOADGEN = fileURLToPath(new URL("./loadgen.mjs", import.meta.url));

/**
 * Per mode. fanout: N values, a fixed-rate phase (`rate`/s, `rateEvents` events), then a burst
 * with `burstInFlight` posts in flight of max(minBurst, min(maxBurst, burstMessages / N)) events.
 * latency: N subscribers, `rate`/s for `seconds`. throughput: N subscribers, `events` single
 * events with `inFlight` in flight, then `batchEvents` in batches of `batch`, `batchInFlight` in
 * flight. Jobs with the same N share their subscribers (one load-generator run, phases in turn).
 */
const PROFILES = {
  full: {
    reps: 3,
    connections: { n: 3000 },
    fanout: {
      ns: [100, 1000, 5000],
      rate: 20,
      rateEvents: 20,
      burstInFlight: 8,
      burstMessages: 60_000,
      maxBurst: 200,
      minBurst: 12,
    },
    latency: { n: 1000, rate: 5, seconds: 4 },
    throughput: { n: 100, events: 300, inFlight: 8, batch: 100, batchEvents: 1000, batchInFlight: 2 },
    ingest: { seconds: 1, maxEvents: 50_000, concurrency: 8 },
    collab: { editors: [10, 50], rate: 50, seconds: 2, docEdits: 2_000, docEditors: 3, docCapMs: 120_000 },
    drainIdleMs: 10_000,
    drainCapMs: 90_000,
    settleMs: 1_000,
  },
  quick: {
    reps: 3,
    connections: { n: 500 },
    fanout: {
      ns: [100, 1000],
      rate: 20,
      rateEvents: 20,
      burstInFlight: 8,
      burstMessages: 20_000,
      maxBurst: 150,
      minBurst: 20,
    },
    latency: { n: 1000, rate: 5, seconds: 2 },
    throughput: { n: 100, events: 150, inFlight: 8, batch: 100, batchEvents: 300, batchInFlight: 2 },
    ingest: { seconds: 0.4, maxEvents: 20_000, concurrency: 8 },
    collab: { editors: [10], rate: 50, seconds: 1, docEdits: 300, docEditors: 3, docCapMs: 30_000 },
    drainIdleMs: 5_000,
    drainCapMs: 30_000,
    settleMs: 300,
  },
  tiny: {
    reps: 1,
    connections: { n: 100 },
    fanout: { ns: [50], rate: 20, rateEvents: 10, burstInFlight: 8, burstMessages: 1_000, maxBurst: 20, minBurst: 20 },
    latency: { n: 50, rate: 5, seconds: 1 },
    throughput: { n: 50, events: 40, inFlight: 8, batch: 100, batchEvents: 200, batchInFlight: 2 },
    ingest: { seconds: 0.3, maxEvents: 5_000, concurrency: 8 },
    collab: { editors: [3], rate: 20, seconds: 1, docEdits: 200, docEditors: 2, docCapMs: 15_000 },
    drainIdleMs: 3_000,
    drainCapMs: 10_000,
    settleMs: 300,
  },
};
const CONCURRENCY = 50; // sockets being opened at once, every target
const SCENARIOS = ["connections", "fanout", "latency", "throughput", "ingest", "collab"];
const BASE_TARGETS = {
  connections: ["base-json"],
  fanout: ["base-json", "base-sio"],
  ingest: ["base-json"],
};
const PEER_NA = "not applicable: the peers have no shared documents (no Yjs, no persistence)";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    out: { type: "string" },
    verbose: { type: "boolean", default: false },
    scenarios: { type: "string" },
    reps: { type: "string" },
    "durable-sync": { type: "string", default: "full" },
    "edge-ref": { type: "string" },
    "baseline-ref": { type: "string" },
    "via-proxy": { type: "boolean", default: false },
  },
});
const mode = args.tiny ? "tiny" : args.quick ? "quick" : "full";
const profile = PROFILES[mode];
const reps = args.reps === undefined ? profile.reps : Number(args.reps);
if (!Number.isInteger(reps) || reps < 1 || reps > 20) fail(`--reps must be 1..20, not ${args.reps}`);
const durableSync = args["durable-sync"].toUpperCase();
if (!["FULL", "NORMAL"].includes(durableSync))
  fail(`--durable-sync must be full or normal, not ${args["durable-sync"]}`);
const selected = args.scenarios ? args.scenarios.split(",").map((s) => s.trim()) : SCENARIOS;
for (const name of selected) if (!SCENARIOS.includes(name)) fail(`unknown scenario ${name}`);
const outDir = resolve(args.out ?? join(REPO_ROOT, "bench", "results"));
const edgeRef = args["edge-ref"] ? resolveRef(args["edge-ref"]) : null;
const baselineRef = args["baseline-ref"] ? resolveRef(args["baseline-ref"]) : null;
/** Who runs each scenario: the edge, its baseline commit if asked for, then the peers. */
const TARGETS = {
  connections: ["edge-json", ...(baselineRef ? BASE_TARGETS.connections : []), "bare-do", "sio-peer", "ws-peer"],
  fanout: ["edge-json", "edge-sio", ...(baselineRef ? BASE_TARGETS.fanout : []), "bare-do", "sio-peer", "ws-peer"],
  ingest: [
    "edge-json",
    ...(baselineRef ? BASE_TARGETS.ingest : []),
    "bare-do",
    "sio-durable-peer",
    "sio-peer",
    "ws-peer",
  ],
};

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  fail(`Node ${process.versions.node} is too old for wrangler: run \`npm run bench\` (it uses the project's Node 24)`);
}

/** The commit `ref` names (for --edge-ref and --baseline-ref), or exit. */
function resolveRef(ref) {
  try {
    return execFileSync("git", ["rev-parse", "--verify", `${ref}^{commit}`], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 5_000,
    }).trim();
  } catch {
    return fail(`${ref}: not a commit of this repository`);
  }
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
    repetitions: reps,
    startedAt: new Date().toISOString(),
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    loadAverageAtStart: loadavg().map((v) => round(v)),
    versions: versions(),
    gitCommit: gitCommit(),
    edgeSource: edgeRef ? `src/ of commit ${edgeRef} (git archive)` : "src/ of the working tree",
    ...(baselineRef ? { baselineSource: `src/ and wrangler.jsonc of commit ${baselineRef} (git archive)` } : {}),
    scenarios: selected,
    edgeEntry: args["via-proxy"]
      ? "wrangler dev's public port: every request and WebSocket relayed by its dev proxy (a second workerd)"
      : "the runtime workerd's own entry socket (wrangler dev's dev proxy skipped: it holds 4 file descriptors per WebSocket, so it cannot carry 5,000 sockets under this machine's 20,000 open-files limit)",
    bareDoEntry: args["via-proxy"]
      ? "wrangler dev's public port, as the edge"
      : "its runtime workerd's own entry socket, as the edge",
    compatibilityDate: { edge: compatibilityDate(REPO_ROOT), bareDo: compatibilityDate(BARE_DO_DIR) },
    durablePeer: {
      synchronous: durableSync,
      journalMode: "WAL",
      filesystem: filesystemOf(tmpdir()),
      note: "node:sqlite DatabaseSync, one transaction per request, committed before the 200; the edge's --persist-to state is on the same filesystem",
    },
    ratios:
      "edge ÷ peer computed per repetition (the edge's run and the peer's run of the same repetition), then the median (and min–max) of those ratios",
    clientHarness:
      "ws 8 (no compression) for the JSON protocol (edge, bare DO) and the ws peer; socket.io-client 4.8 with transports: ['websocket'], no reconnection, no compression, for Socket.IO",
    clock: "performance.timeOrigin + performance.now() in the load generator, which both sends and receives",
  },
  servers: {},
  scenarios: {},
  jobs: [],
  problems,
};
if (results.meta.compatibilityDate.edge !== results.meta.compatibilityDate.bareDo) {
  problems.push({
    where: "bench",
    error: `bench/peers/bare-do/wrangler.jsonc has compatibility_date ${results.meta.compatibilityDate.bareDo}, the root ${results.meta.compatibilityDate.edge}: make them equal`,
  });
}

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
  const needsPeers = selected.some((name) => name !== "collab");
  const wanted = [
    ["edge", () => startEdge({ secret, ref: edgeRef, verbose: args.verbose, viaProxy: args["via-proxy"] })],
    ...(baselineRef && needsPeers
      ? [
          [
            "edge-base",
            () =>
              startEdge({
                secret,
                ref: baselineRef,
                name: "edge-base",
                verbose: args.verbose,
                viaProxy: args["via-proxy"],
              }),
          ],
        ]
      : []),
    ...(needsPeers
      ? [
          ["bare-do", () => startBareDo({ verbose: args.verbose, viaProxy: args["via-proxy"] })],
          ["socketio-peer", () => startPeer({ name: "socketio-peer", file: "socketio-peer.mjs", secret })],
          ["ws-peer", () => startPeer({ name: "ws-peer", file: "ws-peer.mjs", secret })],
        ]
      : []),
    ...(selected.includes("ingest")
      ? [
          [
            "socketio-durable-peer",
            () =>
              startPeer({
                name: "socketio-durable-peer",
                file: "socketio-peer.mjs",
                secret,
                env: { PEER_DURABLE: "1", PEER_SYNCHRONOUS: durableSync },
                withTempDir: true,
              }),
          ],
        ]
      : []),
  ];
  log(`mode ${mode}, ${reps} repetition(s): starting ${wanted.map(([name]) => name).join(", ")} on 127.0.0.1`);
  const started = await Promise.allSettled(wanted.map(([, start]) => start()));
  servers = Object.fromEntries(started.flatMap((s, i) => (s.status === "fulfilled" ? [[wanted[i][0], s.value]] : [])));
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
  const where = (server) =>
    server.proxyUrl && !args["via-proxy"]
      ? `${server.url} (runtime entry; wrangler dev on ${server.proxyUrl})`
      : server.url;
  log(
    `ready: ${Object.entries(servers)
      .map(([name, server]) => `${name} ${where(server)}`)
      .join(", ")}`,
  );

  const targets = {
    "edge-json": servers.edge,
    "edge-sio": servers.edge,
    "base-json": servers["edge-base"],
    "base-sio": servers["edge-base"],
    "bare-do": servers["bare-do"],
    "sio-peer": servers["socketio-peer"],
    "sio-durable-peer": servers["socketio-durable-peer"],
    "ws-peer": servers["ws-peer"],
  };

  if (selected.includes("connections")) await connections(targets);
  if (selected.some((name) => ["fanout", "latency", "throughput"].includes(name))) await fanoutFamily(targets);
  if (selected.includes("ingest")) await ingest(targets);
  if (selected.includes("collab")) await collab(servers.edge);
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Every one runs `reps` times; within a repetition the targets run one after another,
// so that a change in the machine's load between repetitions touches every target alike.

async function connections(targets) {
  const params = { n: profile.connections.n, concurrency: CONCURRENCY, warmup: 20, settleMs: profile.settleMs };
  const runs = [];
  results.scenarios.connections = { params, targets: TARGETS.connections, runs };
  for (let rep = 1; rep <= reps; rep++) {
    for (const target of TARGETS.connections) {
      const server = targets[target];
      const samples = {};
      const run = await runJob({ scenario: "connections", target, ...params }, server, {
        rep,
        onCheckpoint: async (name) => {
          // Give the server a moment, then read its RSS (workerd for the edge and the bare DO; node for a peer).
          await new Promise((r) => setTimeout(r, profile.settleMs / 2));
          samples[name] = server.sample();
        },
      });
      if (run.result && samples.baseline && samples.open) {
        const perSocket = (before, after) =>
          run.result.opened > 0 && before !== undefined && after !== undefined
            ? Math.round(((after - before) * 1024) / run.result.opened)
            : null;
        const { baseline, open } = samples;
        // Under wrangler, the headline is the runtime workerd (what holds the sockets in
        // production too); wrangler's dev proxy is reported beside it. A peer has one process.
        const main = server.mainRole;
        const underWrangler = main === "runtime";
        run.result.memory = {
          process: main,
          // Connections run first, so in the first repetition the server has never held more
          // sockets than now. Later repetitions reuse the memory the previous one's sockets
          // freed (a process keeps it), so their growth understates the cost per socket.
          freshProcess: rep === 1,
          baselineRssKiB: baseline.rssByRole,
          openRssKiB: open.rssByRole,
          perProcess: open.rssPids,
          perSocketBytes: perSocket(baseline.rssByRole[main], open.rssByRole[main]),
          ...(underWrangler
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
}

/**
 * Fan-out, latency and throughput: jobs of N subscribers on one channel and phases of
 * publishing. The scenarios selected that use the same N share one load-generator run per target
 * and repetition (the subscribers are opened once; the phases follow one another, each drained
 * before the next); each scenario's runs keep only their own phases.
 */
async function fanoutFamily(targets) {
  const f = profile.fanout;
  const l = profile.latency;
  const t = profile.throughput;
  // n → phases; a phase's `as` names it for each scenario it serves.
  const groups = new Map();
  const add = (n, phase) => groups.set(n, [...(groups.get(n) ?? []), phase]);
  if (selected.includes("latency")) {
    const events = Math.round(l.rate * l.seconds);
    results.scenarios.latency = { params: { ...l, events, maxInFlight: 16 }, targets: TARGETS.fanout, runs: [] };
    add(l.n, { name: "latency", as: { latency: "latency" }, rate: l.rate, events, maxInFlight: 16 });
  }
  const throughputHere = (n) => selected.includes("throughput") && n === t.n;
  if (selected.includes("fanout")) {
    const params = {
      ns: f.ns,
      rate: f.rate,
      rateEvents: f.rateEvents,
      burstInFlight: f.burstInFlight,
      burstEvents: {},
      burst: `single-event posts, ${f.burstInFlight} in flight, as fast as acknowledged`,
      concurrency: CONCURRENCY,
    };
    results.scenarios.fanout = { params, targets: TARGETS.fanout, runs: [] };
    for (const n of f.ns) {
      let burstEvents = Math.max(f.minBurst, Math.min(f.maxBurst, Math.round(f.burstMessages / n)));
      add(n, { name: "rate", as: { fanout: "rate" }, rate: f.rate, events: f.rateEvents, maxInFlight: 16 });
      // At the throughput scenario's N, its single-event phase is the same measurement as this
      // burst (single events, the same posts in flight): one phase serves both.
      const shared = throughputHere(n) && t.inFlight === f.burstInFlight;
      if (shared) burstEvents = Math.max(burstEvents, t.events);
      params.burstEvents[n] = burstEvents;
      add(n, {
        name: "burst",
        as: shared ? { fanout: "burst", throughput: "single" } : { fanout: "burst" },
        inFlight: f.burstInFlight,
        events: burstEvents,
        capMs: 30_000,
      });
    }
  }
  if (selected.includes("throughput")) {
    results.scenarios.throughput = { params: { ...t }, targets: TARGETS.fanout, runs: [] };
    if (!(groups.get(t.n) ?? []).some((phase) => phase.as.throughput)) {
      add(t.n, { name: "single", as: { throughput: "single" }, inFlight: t.inFlight, events: t.events, capMs: 60_000 });
    }
    add(t.n, {
      name: "batch",
      as: { throughput: "batch" },
      inFlight: t.batchInFlight,
      batch: t.batch,
      events: t.batchEvents,
      capMs: 60_000,
    });
  }
  for (const n of [...groups.keys()].sort((a, b) => a - b)) {
    const phases = groups.get(n);
    const scenarios = [...new Set(phases.flatMap((phase) => Object.keys(phase.as)))];
    for (let rep = 1; rep <= reps; rep++) {
      for (const target of TARGETS.fanout) {
        const entry = await runJob(
          {
            scenario: "fanout",
            target,
            n,
            phases,
            concurrency: CONCURRENCY,
            drainIdleMs: profile.drainIdleMs,
            drainCapMs: profile.drainCapMs,
          },
          targets[target],
          { rep, label: `${scenarios.join("+")} ${target} N=${n}` },
        );
        for (const scenario of scenarios) results.scenarios[scenario].runs.push(partOf(entry, scenario, scenarios));
      }
    }
  }
}

/**
 * The share of a fan-out job's entry that belongs to `scenario`: its phases, under the names it
 * knows them by, and their totals.
 */
function partOf(entry, scenario, scenarios) {
  const mine = entry.job.phases.filter((phase) => phase.as[scenario]);
  const part = {
    ...entry,
    job: { ...entry.job, phases: mine.map((phase) => ({ ...phase, name: phase.as[scenario] })) },
    ...(scenarios.length > 1 ? { sharedJob: `one load-generator run for ${scenarios.join(", ")}` } : {}),
  };
  if (entry.result) {
    const phases = Object.fromEntries(
      mine
        .filter((phase) => entry.result.phases[phase.name])
        .map((phase) => [phase.as[scenario], entry.result.phases[phase.name]]),
    );
    const sum = (field) => Object.values(phases).reduce((total, phase) => total + (phase[field] ?? 0), 0);
    part.result = {
      ...entry.result,
      phases,
      expected: sum("expected"),
      delivered: sum("delivered"),
      lost: sum("lost"),
      duplicates: sum("duplicates"),
      publishRefused: sum("eventsRefused"),
    };
  }
  return part;
}

async function ingest(targets) {
  const params = { ...profile.ingest };
  const runs = [];
  results.scenarios.ingest = {
    params,
    targets: TARGETS.ingest,
    runs,
    note: `edge: /v1/ingest answers after the events are stored in the topic's SQLite (durable); sio-durable-peer: /publish answers after one SQLite transaction (node:sqlite, WAL, synchronous=${durableSync}) has committed the events, then emits; bare-do: seq assigned in memory (not durable); sio-peer and ws-peer: /publish answers after broadcasting, nothing stored (not durable)`,
  };
  for (let rep = 1; rep <= reps; rep++) {
    for (const target of TARGETS.ingest) {
      runs.push(await runJob({ scenario: "ingest", target, ...params }, targets[target], { rep }));
    }
  }
}

async function collab(edge) {
  const c = profile.collab;
  const scenario = { params: { ...c }, latency: [], documents: [], peers: PEER_NA };
  results.scenarios.collab = scenario;
  for (let rep = 1; rep <= reps; rep++) {
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
          { rep },
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
      { rep, timeoutMs: c.docCapMs + 60_000 },
    );
    scenario.documents.push(doc);
    if (!doc.result || aborted) continue;
    await documentLoad(edge, doc, rep);
  }
}

/**
 * Load time: restart wrangler dev on the same state, then time the first GET of the document
 * (the document's Durable Object loads its snapshot and log from SQLite before answering).
 */
async function documentLoad(edge, doc, rep) {
  log(`collab rep ${rep}: restarting wrangler dev on the same state to time a cold document load`);
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
      `collab rep ${rep}: document ${doc.result.documentJsonBytes} B JSON, ${stored?.yjsStateBytes ?? "?"} B stored; first GET after restart ${cold.ms} ms`,
    );
  } catch (error) {
    problems.push({
      where: `collab document load, rep ${rep}`,
      error: error.message,
      serverOutput: tail(edge.output()),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Running the load generator

/**
 * Runs one job in a fresh load-generator process, with the server's CPU (and the machine's)
 * sampled around it, and around each of its phases (checkpoints `start:<phase>` and
 * `end:<phase>`). `onCheckpoint(name)` runs when the load generator pauses at another checkpoint.
 */
async function runJob(
  job,
  server,
  { rep = 1, label: baseLabel = null, onCheckpoint = null, timeoutMs = 300_000 } = {},
) {
  const base =
    baseLabel ??
    `${job.scenario} ${job.target}${job.n ? ` N=${job.n}` : ""}${job.editors ? ` editors=${job.editors}` : ""}`;
  const label = reps > 1 ? `${base} (rep ${rep}/${reps})` : base;
  const entry = { target: job.target, ...(job.n ? { n: job.n } : {}), rep, job: { ...job } };
  const summary = { label: base, rep, scenario: job.scenario, target: job.target };
  results.jobs.push(summary);
  if (aborted) {
    entry.error = `not run: interrupted by ${aborted}`;
    summary.error = entry.error;
    return entry;
  }
  if (!server?.alive() || !(await healthy(server))) {
    // A server that died or hangs is evidence; one under wrangler is restarted (same state) so
    // that the scenarios after this one still measure something.
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
      summary.error = entry.error;
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
  const marks = new Map();
  const phaseCosts = {};
  const handleCheckpoint = async (name, info) => {
    if (name.startsWith("start:")) {
      marks.set(name.slice(6), {
        sample: server.alive() ? server.sample() : null,
        machine: machineBusySeconds(),
        self: process.cpuUsage(),
        at: performance.now(),
      });
    } else if (name.startsWith("end:")) {
      const phase = name.slice(4);
      const mark = marks.get(phase);
      if (mark?.sample && server.alive()) phaseCosts[phase] = phaseCost(server, mark, info);
    } else await onCheckpoint?.(name, info);
  };
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
          await handleCheckpoint(message.name, message.info);
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
        tag: `${tag}${rep}${job.n ?? job.editors ?? ""}${job.target.replace(/[^a-z]/g, "")}`,
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
  if (outcome.ok) {
    entry.result = outcome.result;
    attachPhaseCosts(entry.result, phaseCosts);
  } else {
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
  Object.assign(summary, whoWasBusy(entry));
  return entry;
}

/** Server and machine CPU over one phase of a job, from the samples at its two checkpoints. */
function phaseCost(server, mark, info) {
  const sample = server.sample();
  const machine = machineBusySeconds();
  const self = process.cpuUsage(mark.self);
  const wallS = (performance.now() - mark.at) / 1000;
  const role = server.mainRole;
  const groupCpu = Math.max(0, sample.cpuSeconds - mark.sample.cpuSeconds);
  const mainCpu = Math.max(0, (sample.cpuSecondsByRole[role] ?? 0) - (mark.sample.cpuSecondsByRole[role] ?? 0));
  const loadgenCpu = (info?.loadgenCpuMs ?? 0) / 1000;
  return {
    wallS: round(wallS, 3),
    cpuPercent: round((groupCpu / wallS) * 100, 1),
    mainProcess: role,
    mainCpuSeconds: mainCpu,
    mainCpuPercent: round((mainCpu / wallS) * 100, 1),
    otherCpuPercent:
      mark.machine === null || machine === null
        ? null
        : round(
            (Math.max(0, machine - mark.machine - groupCpu - loadgenCpu - (self.user + self.system) / 1e6) / wallS) *
              100,
            1,
          ),
  };
}

/**
 * Puts each phase's server CPU beside the phase's figures, with the CPU of the server's main
 * process (the runtime workerd under wrangler; node for a peer) per unit of work: per delivered
 * message (fan-out phases), per acknowledged event (ingest modes), per socket opened (connections).
 */
function attachPhaseCosts(result, costs) {
  for (const [name, cost] of Object.entries(costs)) {
    let holder;
    let units;
    let unit;
    if (result.phases?.[name]) {
      holder = result.phases[name];
      units = holder.delivered;
      unit = "delivered message";
    } else if (result.modes?.[name]) {
      holder = result.modes[name];
      units = holder.eventsAcked;
      unit = "acknowledged event";
    } else if (name === "open") {
      holder = result;
      units = result.opened;
      unit = "socket opened and subscribed";
    } else continue;
    const server = {
      ...cost,
      mainCpuSeconds: round(cost.mainCpuSeconds, 3),
      mainCpuUsPerUnit: units > 0 ? round((cost.mainCpuSeconds * 1e6) / units, 2) : null,
      unit,
    };
    if (holder === result) result.openServer = server;
    else holder.server = server;
  }
}

/** The figures of the "who was busy" table for one job. */
function whoWasBusy(entry) {
  const r = entry.result;
  // Phases shorter than 0.5 s are left out: their CPU share is mostly start-up noise.
  const phases = [
    r?.loadgen,
    ...Object.values(r?.phases ?? {}).map((x) => x.loadgen),
    ...Object.values(r?.modes ?? {}).map((x) => x.loadgen),
  ]
    .filter((x) => x && x.wallMs >= 500)
    .map((x) => x.cpuPercentOfOneCore);
  return {
    loadgenPercent: r?.loadgenWhole?.cpuPercentOfOneCore ?? null,
    busiestLoadgenPhasePercent: phases.length ? Math.max(...phases) : null,
    serverCpuPercent: entry.server?.cpuPercent ?? null,
    otherCpuPercent: entry.machine?.otherProcessesCpuPercent ?? null,
    ...(entry.error ? { error: String(entry.error).split("\n")[0].slice(0, 200) } : {}),
    ...(entry.serverDied ? { serverDied: true } : {}),
    ...(r?.lost > 0 ? { lost: r.lost } : {}),
  };
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
    return {
      head: git("rev-parse", "HEAD"),
      dirty: git("status", "--porcelain", "--", "src").length > 0,
      benchDirty: git("status", "--porcelain", "--", "bench").length > 0,
    };
  } catch {
    return null;
  }
}

/** The filesystem type under `path` (the durable peer's SQLite and wrangler's state live there). */
function filesystemOf(path) {
  try {
    return execFileSync("stat", ["-f", "-c", "%T", path], { encoding: "utf8", timeout: 5_000 }).trim();
  } catch {
    return null;
  }
}
