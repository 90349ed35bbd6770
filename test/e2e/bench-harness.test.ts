/**
 * The benchmark harness end to end: `node bench/run.mjs --tiny --out <tmp>` starts wrangler dev
 * (the edge and the bare-DO peer) and the Node peers itself, runs every scenario against every
 * target with the load generator in its own process, stops everything and writes its results.
 * This checks the harness, not the figures: every scenario and target is there, nothing was
 * lost, every throughput is positive. No timing thresholds.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUN_TIMEOUT_MS = 100_000;
const FANOUT_TARGETS = ["edge-json", "edge-sio", "bare-do", "sio-peer", "ws-peer"];

interface Run {
  target: string;
  n?: number;
  rep?: number;
  error?: string;
  serverDied?: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: the results JSON is checked field by field below
  result?: any;
}

interface Stat {
  median: number;
  min: number;
  max: number;
  runs: (number | null)[];
}

interface Results {
  meta: { mode: string; repetitions: number };
  scenarios: {
    connections: { params: { n: number }; targets: string[]; runs: Run[] };
    fanout: { params: { ns: number[] }; runs: Run[] };
    latency: { params: { n: number }; runs: Run[] };
    throughput: { params: { n: number }; runs: Run[] };
    ingest: { targets: string[]; runs: Run[] };
    collab: { latency: Run[]; documents: Run[]; peers: string };
  };
  rows: {
    family: string;
    scenario: string;
    metric: string;
    unit: string;
    better: string | null;
    edgeTarget: string;
    peers: string[];
    values: Record<string, Stat | null>;
    ratios: Record<string, Stat | null>;
  }[];
}

let outDir: string;
let exit: { code: number | null; signal: NodeJS.Signals | null; output: string };
let results: Results;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "realtime-edge-bench-test-"));
  exit = await new Promise((resolve) => {
    const child = spawn(process.execPath, ["bench/run.mjs", "--tiny", "--out", outDir], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    let output = "";
    const record = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-64 * 1024);
    };
    child.stdout.on("data", record);
    child.stderr.on("data", record);
    // SIGINT lets the orchestrator stop its servers; SIGKILL if it does not end soon after.
    const timer = setTimeout(() => {
      child.kill("SIGINT");
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
    }, RUN_TIMEOUT_MS);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
  const latest = join(outDir, "latest.json");
  if (!existsSync(latest)) throw new Error(`no results (exit ${exit.code ?? exit.signal}):\n${exit.output}`);
  results = JSON.parse(readFileSync(latest, "utf8")) as Results;
}, RUN_TIMEOUT_MS + 20_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const ok = (run: Run | undefined, what: string) => {
  expect(run, `${what}: missing`).toBeDefined();
  expect(run?.error, `${what}: ${run?.error}`).toBeUndefined();
  expect(run?.serverDied, `${what}: the server exited`).toBeFalsy();
  return run?.result;
};

/** Every fan-out-style run (fan-out, latency, throughput) of `target` at `n`: all subscribed, nothing lost. */
function checkFanoutRun(runs: Run[], target: string, n: number, phases: string[], what: string) {
  const result = ok(
    runs.find((run) => run.target === target && run.n === n),
    what,
  );
  expect(result.subscribed, what).toBe(n);
  expect(Object.keys(result.phases).sort(), what).toEqual([...phases].sort());
  expect(result.expected, what).toBeGreaterThan(0);
  expect(result.lost, what).toBe(0);
  expect(result.delivered, what).toBe(result.expected);
  expect(result.duplicates, what).toBe(0);
  expect(result.publishRefused, what).toBe(0);
  for (const phase of phases) {
    const figures = result.phases[phase];
    expect(figures.deliveredPerSecond, `${what} ${phase}`).toBeGreaterThan(0);
    expect(figures.latencyMs.count, `${what} ${phase}`).toBe(figures.delivered);
    expect(figures.server.mainCpuPercent, `${what} ${phase}: server CPU sampled`).toBeGreaterThanOrEqual(0);
  }
}

describe("npm run bench -- --tiny", () => {
  it("exits 0 and writes latest.json, latest.md and a timestamped JSON", () => {
    expect(exit.code, exit.output).toBe(0);
    expect(results.meta.mode).toBe("tiny");
    expect(results.meta.repetitions).toBe(1);
    expect(existsSync(join(outDir, "latest.md"))).toBe(true);
    expect(readdirSync(outDir).filter((name) => /^2.*\.json$/.test(name))).toHaveLength(1);
    expect(readFileSync(join(outDir, "latest.md"), "utf8")).toContain("| scenario | metric | edge |");
  });

  it("connections: every target opened and subscribed every socket, with a memory reading", () => {
    const { params, targets, runs } = results.scenarios.connections;
    expect(targets).toEqual(["edge-json", "bare-do", "sio-peer", "ws-peer"]);
    for (const target of targets) {
      const result = ok(
        runs.find((run) => run.target === target),
        `connections ${target}`,
      );
      expect(result.opened, target).toBe(params.n);
      expect(result.failures, target).toBe(0);
      expect(result.perSecond, target).toBeGreaterThan(0);
      expect(typeof result.memory.perSocketBytes, target).toBe("number");
      expect(typeof result.openServer.mainCpuUsPerUnit, target).toBe("number");
    }
  });

  it("fan-out: every target delivered every message, none lost or repeated", () => {
    const { params, runs } = results.scenarios.fanout;
    for (const n of params.ns) {
      for (const target of FANOUT_TARGETS)
        checkFanoutRun(runs, target, n, ["rate", "burst"], `fan-out ${target} N=${n}`);
    }
  });

  it("latency and throughput: every target delivered every message of its phases", () => {
    const { latency, throughput } = results.scenarios;
    for (const target of FANOUT_TARGETS) {
      checkFanoutRun(latency.runs, target, latency.params.n, ["latency"], `latency ${target}`);
      checkFanoutRun(throughput.runs, target, throughput.params.n, ["single", "batch"], `throughput ${target}`);
    }
  });

  it("ingest: every target acknowledged events in every mode, none refused", () => {
    const { targets, runs } = results.scenarios.ingest;
    expect(targets).toEqual(["edge-json", "bare-do", "sio-durable-peer", "sio-peer", "ws-peer"]);
    for (const target of targets) {
      const result = ok(
        runs.find((run) => run.target === target),
        `ingest ${target}`,
      );
      expect(result.durable, target).toBe(target === "edge-json" || target === "sio-durable-peer");
      expect(Object.keys(result.modes).sort(), target).toEqual(["batch100", "single", "single_c8"]);
      for (const [mode, figures] of Object.entries<{ eventsPerSecond: number; eventsRefused: number }>(result.modes)) {
        expect(figures.eventsPerSecond, `${target} ${mode}`).toBeGreaterThan(0);
        expect(figures.eventsRefused, `${target} ${mode}`).toBe(0);
      }
      expect(result.inFlightSpeedup, target).toBeGreaterThan(0);
    }
  });

  it("collaborative editing: every edit reached every editor; the document was measured and reloaded", () => {
    const { latency, documents, peers } = results.scenarios.collab;
    expect(latency.length).toBeGreaterThan(0);
    for (const run of latency) {
      const result = ok(run, "collab latency");
      expect(result.acked).toBe(result.edits);
      expect(result.lost).toBe(0);
      expect(result.delivered).toBe(result.edits * (result.editors - 1));
    }
    expect(documents).toHaveLength(1);
    const doc = ok(documents[0], "collab document");
    expect(doc.acked).toBe(doc.edits);
    expect(doc.lost).toBe(0);
    expect(doc.editsPerSecond).toBeGreaterThan(0);
    expect(doc.documentJsonBytes).toBeGreaterThan(2);
    expect(doc.stored.yjsStateBytes).toBeGreaterThan(0);
    expect(doc.afterRestart.firstGetMs).toBeGreaterThan(0);
    expect(doc.afterRestart.sameDocument).toBe(true);
    expect(peers).toMatch(/not applicable/);
  });

  it("reports every figure of ours with its ratio to every peer of the scenario", () => {
    const families = new Set(results.rows.map((row) => row.family));
    expect([...families].sort()).toEqual(["collab", "connections", "fan-out", "ingest", "latency", "throughput"]);
    const compared = results.rows.filter((row) => row.better !== null && row.family !== "collab");
    expect(compared.length).toBeGreaterThan(40);
    for (const row of compared) {
      const what = `${row.scenario}: ${row.metric}`;
      expect(row.peers.length, what).toBeGreaterThan(0);
      expect(row.values[row.edgeTarget]?.median, what).toBeGreaterThanOrEqual(0);
      // Server CPU in a short tiny phase can round to zero ticks: no ratio then.
      if (row.unit === "µs" || row.unit === "% of a core") continue;
      for (const peer of row.peers) expect(row.ratios[peer]?.median, `${what} ÷ ${peer}`).toBeGreaterThan(0);
    }
  });
});
