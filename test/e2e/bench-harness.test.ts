/**
 * The benchmark harness end to end: `node bench/run.mjs --tiny --out <tmp>` starts wrangler dev
 * and both peers itself, runs every scenario against every target with the load generator in
 * its own process, stops everything and writes its results. This checks the harness, not the
 * figures: every scenario and target is there, nothing was lost, every throughput is positive.
 * No timing thresholds.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUN_TIMEOUT_MS = 100_000;

interface Run {
  target: string;
  n?: number;
  error?: string;
  serverDied?: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: the results JSON is checked field by field below
  result?: any;
}

interface Results {
  meta: { mode: string };
  scenarios: {
    connections: { params: { n: number }; runs: Run[] };
    fanout: { params: { ns: number[] }; runs: Run[] };
    ingest: { runs: Run[] };
    collab: { latency: Run[]; document: Run; peers: string };
  };
  rows: {
    scenario: string;
    metric: string;
    better: string | null;
    vsSioPeer: number | null;
    vsWsPeer: number | null;
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

describe("npm run bench -- --tiny", () => {
  it("exits 0 and writes latest.json, latest.md and a timestamped JSON", () => {
    expect(exit.code, exit.output).toBe(0);
    expect(results.meta.mode).toBe("tiny");
    expect(existsSync(join(outDir, "latest.md"))).toBe(true);
    expect(readdirSync(outDir).filter((name) => /^2.*\.json$/.test(name))).toHaveLength(1);
    expect(readFileSync(join(outDir, "latest.md"), "utf8")).toContain("| scenario | metric | edge |");
  });

  it("connections: every target opened and subscribed every socket, with a memory reading", () => {
    const { params, runs } = results.scenarios.connections;
    for (const target of ["edge-json", "sio-peer", "ws-peer"]) {
      const result = ok(
        runs.find((run) => run.target === target),
        `connections ${target}`,
      );
      expect(result.opened, target).toBe(params.n);
      expect(result.failures, target).toBe(0);
      expect(result.perSecond, target).toBeGreaterThan(0);
      expect(typeof result.memory.perSocketBytes, target).toBe("number");
    }
  });

  it("fan-out: every target delivered every message, none lost or repeated", () => {
    const { params, runs } = results.scenarios.fanout;
    for (const n of params.ns) {
      for (const target of ["edge-json", "edge-sio", "sio-peer", "ws-peer"]) {
        const what = `fan-out ${target} N=${n}`;
        const result = ok(
          runs.find((run) => run.target === target && run.n === n),
          what,
        );
        expect(result.subscribed, what).toBe(n);
        expect(result.expected, what).toBeGreaterThan(0);
        expect(result.lost, what).toBe(0);
        expect(result.delivered, what).toBe(result.expected);
        expect(result.duplicates, what).toBe(0);
        expect(result.publishRefused, what).toBe(0);
        expect(result.rate.deliveredPerSecond, what).toBeGreaterThan(0);
        expect(result.burst.deliveredPerSecond, what).toBeGreaterThan(0);
        expect(result.burst.latencyMs.count, what).toBe(result.burst.delivered);
      }
    }
  });

  it("ingest: every target acknowledged events in every mode, none refused", () => {
    for (const target of ["edge-json", "sio-peer", "ws-peer"]) {
      const result = ok(
        results.scenarios.ingest.runs.find((run) => run.target === target),
        `ingest ${target}`,
      );
      expect(result.durable, target).toBe(target === "edge-json");
      expect(Object.keys(result.modes).sort(), target).toEqual(["batch100", "single", "single_c8"]);
      for (const [mode, figures] of Object.entries<{ eventsPerSecond: number; eventsRefused: number }>(result.modes)) {
        expect(figures.eventsPerSecond, `${target} ${mode}`).toBeGreaterThan(0);
        expect(figures.eventsRefused, `${target} ${mode}`).toBe(0);
      }
    }
  });

  it("collaborative editing: every edit reached every editor; the document was measured and reloaded", () => {
    const { latency, document, peers } = results.scenarios.collab;
    expect(latency.length).toBeGreaterThan(0);
    for (const run of latency) {
      const result = ok(run, "collab latency");
      expect(result.acked).toBe(result.edits);
      expect(result.lost).toBe(0);
      expect(result.delivered).toBe(result.edits * (result.editors - 1));
    }
    const doc = ok(document, "collab document");
    expect(doc.acked).toBe(doc.edits);
    expect(doc.lost).toBe(0);
    expect(doc.editsPerSecond).toBeGreaterThan(0);
    expect(doc.documentJsonBytes).toBeGreaterThan(2);
    expect(doc.stored.yjsStateBytes).toBeGreaterThan(0);
    expect(doc.afterRestart.firstGetMs).toBeGreaterThan(0);
    expect(doc.afterRestart.sameDocument).toBe(true);
    expect(peers).toMatch(/not applicable/);
  });

  it("reports every figure of ours with its ratio to both peers", () => {
    const families = new Set(results.rows.map((row) => row.scenario.split(/[ ,]/)[0]));
    expect([...families].sort()).toEqual(["collab", "connections", "fan-out", "ingest"]);
    const compared = results.rows.filter((row) => row.better !== null && !row.scenario.startsWith("collab"));
    expect(compared.length).toBeGreaterThan(20);
    for (const row of compared) {
      expect(row.vsSioPeer, `${row.scenario}: ${row.metric}`).toBeGreaterThan(0);
      expect(row.vsWsPeer, `${row.scenario}: ${row.metric}`).toBeGreaterThan(0);
    }
  });
});
