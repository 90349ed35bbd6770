/**
 * From a run's results to comparison rows and the markdown report. Pure.
 *
 * Every scenario runs `repetitions` times. A row holds, for each target, the figure of every
 * repetition and their median and min–max; and for each peer the ratio edge ÷ peer computed per
 * repetition (the edge's run and the peer's run of the same repetition), then the median and
 * min–max of those ratios.
 */

export const TARGET_LABELS = {
  "edge-json": "edge",
  "edge-sio": "edge (Socket.IO)",
  "base-json": "edge @base",
  "base-sio": "edge @base (Socket.IO)",
  "bare-do": "bare DO",
  "sio-peer": "socket.io peer",
  "sio-durable-peer": "socket.io durable peer",
  "ws-peer": "ws peer",
};
const RATIO_LABELS = {
  "base-json": "edge ÷ edge @base",
  "base-sio": "edge ÷ edge @base (Socket.IO)",
  "bare-do": "edge ÷ bare DO",
  "sio-peer": "edge ÷ socket.io",
  "sio-durable-peer": "edge ÷ socket.io durable",
  "ws-peer": "edge ÷ ws",
};
const FAN_PEERS = ["bare-do", "sio-peer", "ws-peer"];
/** The baseline edge (--baseline-ref) of the same protocol as `edgeTarget`, when the run has one. */
const basePeer = (runs, edgeTarget) => {
  const base = edgeTarget === "edge-sio" ? "base-sio" : "base-json";
  return runs.some((run) => run.target === base) ? [base] : [];
};
const FAMILY_TITLES = {
  connections: "Connections",
  "fan-out": "Fan-out",
  latency: "Latency below saturation",
  throughput: "Throughput through one topic",
  ingest: "Ingest",
  collab: "Collaborative editing (edge only)",
};

const get = (object, path) => path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
const finite = (value) => typeof value === "number" && Number.isFinite(value);

export function median(values) {
  const sorted = values.filter(finite).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median and min–max of the figures of every repetition (`runs`, in repetition order, null where missing). */
function stat(runs, digits = 3) {
  const present = runs.filter(finite);
  if (present.length === 0) return null;
  const fix = (value) => Number(value.toFixed(digits));
  return {
    median: fix(median(present)),
    min: fix(Math.min(...present)),
    max: fix(Math.max(...present)),
    runs: runs.map((value) => (finite(value) ? fix(value) : null)),
  };
}

/**
 * Adds one row per metric: `metrics` are [name, unit, better, path, headline?]; `better` is
 * "higher" or "lower" (how to read a ratio), or null for figures without a ratio (counts).
 */
function addRows(rows, { family, scenario, runs, reps, edgeTarget, peers, n, metrics }) {
  const figureOf = (target, rep, path) => {
    const run = runs.find((r) => r.target === target && (r.rep ?? 1) === rep && (n === undefined || r.n === n));
    const value = typeof path === "function" ? path(run?.result) : get(run?.result, path);
    return finite(value) ? value : null;
  };
  for (const [metric, unit, better, path, headline = false] of metrics) {
    const values = {};
    for (const target of [edgeTarget, ...peers]) values[target] = stat(reps.map((rep) => figureOf(target, rep, path)));
    const ratios = {};
    if (better) {
      for (const peer of peers) {
        ratios[peer] = stat(
          reps.map((rep) => {
            const ours = figureOf(edgeTarget, rep, path);
            const theirs = figureOf(peer, rep, path);
            return ours !== null && theirs !== null && theirs !== 0 ? ours / theirs : null;
          }),
        );
      }
    }
    rows.push({ family, scenario, metric, unit, better, headline, edgeTarget, peers, values, ratios });
  }
}

const repsOf = (runs) => [...new Set(runs.map((run) => run.rep ?? 1))].sort((a, b) => a - b);

export function buildRows(results) {
  const rows = [];
  const s = results.scenarios;

  const conn = s.connections;
  if (conn) {
    const metrics = [
      ["authenticated upgrade + subscribe", "/s", "higher", "perSecond", true],
      ["connect + subscribe p50", "ms", "lower", "connectSubscribeMs.p50"],
      ["connect + subscribe p99", "ms", "lower", "connectSubscribeMs.p99"],
      ["server CPU per socket (upgrade + subscribe)", "µs", "lower", "openServer.mainCpuUsPerUnit", true],
      [
        "server RSS per open socket (first repetition only)",
        "bytes",
        "lower",
        (r) => (r?.memory?.freshProcess ? r.memory.perSocketBytes : null),
        true,
      ],
    ];
    if (results.meta.edgeEntry?.startsWith("wrangler dev's public port")) {
      metrics.push(["+ wrangler's dev proxy workerd, per socket", "bytes", null, "memory.devProxyPerSocketBytes"]);
    }
    metrics.push(["sockets opened", "count", null, "opened"], ["failed", "count", null, "failures"]);
    addRows(rows, {
      family: "connections",
      scenario: `connections, N=${conn.params.n}, ${conn.params.concurrency} at a time`,
      runs: conn.runs,
      reps: repsOf(conn.runs),
      edgeTarget: "edge-json",
      peers: conn.targets.filter((t) => t !== "edge-json"),
      metrics,
    });
  }

  const fan = s.fanout;
  if (fan) {
    const { rate, burstInFlight } = fan.params;
    for (const n of fan.params.ns) {
      for (const edgeTarget of ["edge-json", "edge-sio"]) {
        addRows(rows, {
          family: "fan-out",
          scenario: `fan-out N=${n.toLocaleString("en-US")}${edgeTarget === "edge-sio" ? ", Socket.IO" : ""}`,
          runs: fan.runs,
          reps: repsOf(fan.runs),
          edgeTarget,
          peers: [...basePeer(fan.runs, edgeTarget), ...FAN_PEERS],
          n,
          metrics: [
            [`offered @ ${rate}/s (rate × N)`, "msg/s", null, "phases.rate.offeredPerSecond"],
            [`delivered @ ${rate}/s`, "msg/s", "higher", "phases.rate.deliveredPerSecond"],
            [`latency p50 @ ${rate}/s`, "ms", "lower", "phases.rate.latencyMs.p50"],
            [`latency p99 @ ${rate}/s`, "ms", "lower", "phases.rate.latencyMs.p99"],
            [
              `delivered, burst (${burstInFlight} posts in flight)`,
              "msg/s",
              "higher",
              "phases.burst.deliveredPerSecond",
              true,
            ],
            ["events accepted, burst", "events/s", "higher", "phases.burst.publishRate"],
            ["latency p50, burst", "ms", "lower", "phases.burst.latencyMs.p50"],
            ["latency p99, burst", "ms", "lower", "phases.burst.latencyMs.p99"],
            ["server CPU per delivered message, burst", "µs", "lower", "phases.burst.server.mainCpuUsPerUnit", true],
            ["server main process CPU, burst", "% of a core", null, "phases.burst.server.mainCpuPercent"],
            ["messages lost", "count", null, "lost"],
            ["duplicates", "count", null, "duplicates"],
          ],
        });
      }
    }
  }

  const lat = s.latency;
  if (lat) {
    const { n, rate, seconds } = lat.params;
    for (const edgeTarget of ["edge-json", "edge-sio"]) {
      addRows(rows, {
        family: "latency",
        scenario: `latency, N=${n.toLocaleString("en-US")}, ${rate} events/s for ${seconds} s${edgeTarget === "edge-sio" ? ", Socket.IO" : ""}`,
        runs: lat.runs,
        reps: repsOf(lat.runs),
        edgeTarget,
        peers: [...basePeer(lat.runs, edgeTarget), ...FAN_PEERS],
        n,
        metrics: [
          ["delivered", "msg/s", "higher", "phases.latency.deliveredPerSecond"],
          ["latency p50", "ms", "lower", "phases.latency.latencyMs.p50", true],
          ["latency p95", "ms", "lower", "phases.latency.latencyMs.p95"],
          ["latency p99", "ms", "lower", "phases.latency.latencyMs.p99", true],
          ["latency max", "ms", "lower", "phases.latency.latencyMs.max"],
          ["server main process CPU", "% of a core", "lower", "phases.latency.server.mainCpuPercent", true],
          ["messages lost", "count", null, "lost"],
        ],
      });
    }
  }

  const thr = s.throughput;
  if (thr) {
    const { n, inFlight, batch, batchInFlight } = thr.params;
    for (const edgeTarget of ["edge-json", "edge-sio"]) {
      addRows(rows, {
        family: "throughput",
        scenario: `throughput, one topic, N=${n.toLocaleString("en-US")}${edgeTarget === "edge-sio" ? ", Socket.IO" : ""}`,
        runs: thr.runs,
        reps: repsOf(thr.runs),
        edgeTarget,
        peers: [...basePeer(thr.runs, edgeTarget), ...FAN_PEERS],
        n,
        metrics: [
          [
            `events/s, single events, ${inFlight} in flight`,
            "events/s",
            "higher",
            "phases.single.eventsPerSecond",
            true,
          ],
          ["latency p50, single events", "ms", "lower", "phases.single.latencyMs.p50"],
          ["latency p99, single events", "ms", "lower", "phases.single.latencyMs.p99"],
          [
            "server CPU per delivered message, single events",
            "µs",
            "lower",
            "phases.single.server.mainCpuUsPerUnit",
            true,
          ],
          [
            `events/s, batches of ${batch}, ${batchInFlight} in flight`,
            "events/s",
            "higher",
            "phases.batch.eventsPerSecond",
            true,
          ],
          ["latency p50, batches", "ms", "lower", "phases.batch.latencyMs.p50"],
          ["latency p99, batches", "ms", "lower", "phases.batch.latencyMs.p99"],
          ["server CPU per delivered message, batches", "µs", "lower", "phases.batch.server.mainCpuUsPerUnit", true],
          ["messages lost", "count", null, "lost"],
        ],
      });
    }
  }

  const ing = s.ingest;
  if (ing) {
    const c = ing.params.concurrency;
    addRows(rows, {
      family: "ingest",
      scenario: "ingest (edge and socket.io durable peer: durable; others not)",
      runs: ing.runs,
      reps: repsOf(ing.runs),
      edgeTarget: "edge-json",
      peers: ing.targets.filter((t) => t !== "edge-json"),
      metrics: [
        ["single events, 1 in flight", "events/s", "higher", "modes.single.eventsPerSecond", true],
        ["single events, 1 in flight, p50", "ms", "lower", "modes.single.requestMs.p50"],
        ["single events, 1 in flight, p99", "ms", "lower", "modes.single.requestMs.p99"],
        [`single events, ${c} in flight`, "events/s", "higher", `modes.single_c${c}.eventsPerSecond`, true],
        [`single events, ${c} in flight, p99`, "ms", "lower", `modes.single_c${c}.requestMs.p99`],
        [`${c} in flight ÷ 1 in flight`, "×", null, "inFlightSpeedup", true],
        ["batches of 100, 1 in flight", "events/s", "higher", "modes.batch100.eventsPerSecond", true],
        ["batches of 100, p50", "ms", "lower", "modes.batch100.requestMs.p50"],
        ["server CPU per event, single, 1 in flight", "µs", "lower", "modes.single.server.mainCpuUsPerUnit", true],
        [`server CPU per event, single, ${c} in flight`, "µs", "lower", `modes.single_c${c}.server.mainCpuUsPerUnit`],
        ["server CPU per event, batches of 100", "µs", "lower", "modes.batch100.server.mainCpuUsPerUnit"],
        ["events refused", "count", null, "refusedTotal"],
      ],
    });
  }

  const col = s.collab;
  if (col) {
    for (const editors of col.params.editors) {
      const runs = col.latency.filter((run) => run.job.editors === editors);
      addRows(rows, {
        family: "collab",
        scenario: `collab, ${editors} editors @ ${col.params.rate} edits/s`,
        runs,
        reps: repsOf(runs),
        edgeTarget: "edge-json",
        peers: [],
        metrics: [
          ["edit → other editor p50", "ms", "lower", "editToOtherEditorMs.p50"],
          ["edit → other editor p99", "ms", "lower", "editToOtherEditorMs.p99"],
          ["edit → seen by all others p50", "ms", "lower", "editSeenByAllMs.p50"],
          ["edit → seen by all others p99", "ms", "lower", "editSeenByAllMs.p99"],
          ["edit → own acknowledgement p50", "ms", "lower", "ackMs.p50"],
          ["deliveries lost", "count", null, "lost"],
        ],
      });
    }
    if (col.documents?.length) {
      addRows(rows, {
        family: "collab",
        scenario: `collab document, ${col.params.docEdits.toLocaleString("en-US")} edits`,
        runs: col.documents,
        reps: repsOf(col.documents),
        edgeTarget: "edge-json",
        peers: [],
        metrics: [
          ["edits acknowledged (ingest, batches of 100)", "edits/s", "higher", "editsPerSecond"],
          ["edits lost (not seen by an editor)", "count", null, "lost"],
          ["document JSON", "bytes", "lower", "documentJsonBytes"],
          ["stored Yjs state (snapshot + log)", "bytes", "lower", "stored.yjsStateBytes"],
          ["log updates left after compaction", "count", null, "stored.logUpdates"],
          ["first GET after restart (load)", "ms", "lower", "afterRestart.firstGetMs"],
          ["GET, warm", "ms", "lower", "warmGetMs.p50"],
        ],
      });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Markdown

const fmt = (value) => {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString("en-US");
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
};
const fmtRatio = (value) => (value === null || value === undefined ? "—" : `${value.toFixed(2)}×`);

/** "median (min–max)" when the repetitions differ, else the one figure. */
function cell(s, format = fmt) {
  if (!s) return "—";
  const count = s.runs.filter(finite).length;
  if (count <= 1 || s.min === s.max) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

function familyTable(lines, rows) {
  const peers = [...new Set(rows.flatMap((row) => row.peers))];
  const hasRatios = rows.some((row) => row.better) && peers.length > 0;
  const header = ["scenario", "metric", "edge", ...peers.map((p) => TARGET_LABELS[p])];
  if (hasRatios) header.push(...peers.map((p) => RATIO_LABELS[p]));
  lines.push(`| ${header.join(" | ")} |`);
  lines.push(
    `| --- | --- | ${header
      .slice(2)
      .map(() => "---:")
      .join(" | ")} |`,
  );
  for (const row of rows) {
    const cells = [row.scenario, `${row.metric} (${row.unit})`, cell(row.values[row.edgeTarget])];
    for (const peer of peers) cells.push(row.peers.includes(peer) ? cell(row.values[peer]) : "n/a");
    if (hasRatios) for (const peer of peers) cells.push(row.better ? cell(row.ratios[peer], fmtRatio) : "—");
    lines.push(`| ${cells.join(" | ")} |`);
  }
}

export function renderMarkdown(results) {
  const m = results.meta;
  const reps = m.repetitions ?? 1;
  const lines = [];
  lines.push(`# realtime-edge benchmark (${m.mode})`);
  lines.push("");
  lines.push(
    `${m.startedAt}, ${m.durationSeconds ?? "?"} s; ${m.cpus} × ${m.cpuModel ?? "CPU"}, ${m.memoryMiB} MiB; Node ${m.node}; wrangler ${m.versions.wrangler}, socket.io ${m.versions["socket.io"]}; commit ${m.gitCommit?.head?.slice(0, 10) ?? "?"}${m.edgeSource?.startsWith("src/ of commit") ? `, edge from ${m.edgeSource}` : m.gitCommit?.dirty ? " (src modified)" : ""}${m.gitCommit?.benchDirty ? " (bench modified)" : ""}${m.baselineSource ? `; edge @base from ${m.baselineSource}` : ""}; load average at start ${m.loadAverageAtStart.join(" ")}.`,
  );
  lines.push("");
  lines.push(
    "Everything runs on this one machine over 127.0.0.1: `wrangler dev` for the edge (local workerd + SQLite) and for the " +
      "**bare DO** (the same runtime with a minimal Worker + 8 shard DOs + topic DOs, no auth, no storage: the runtime's own cost), " +
      "the Node peers (socket.io + jose JWT middleware + rooms; the same with each ingested event stored in SQLite before the answer; " +
      "bare `ws` broadcast, no auth), and the load generator (one process per run). " +
      `Every scenario ran ${reps} time${reps > 1 ? "s" : ""}; targets alternate within each repetition. ` +
      (reps > 1
        ? "Figures are the median of the repetitions, with (min–max). Ratios are edge ÷ peer computed per repetition, then medianed (min–max of the per-repetition ratios). "
        : "Ratios are edge ÷ peer. ") +
      "For rates above 1 is better; for latencies, CPU, bytes and memory below 1 is better.",
  );
  lines.push("");
  lines.push(
    `Edge clients and publishers connect to ${m.edgeEntry ?? "wrangler dev"}; bare-DO clients to ${m.bareDoEntry ?? "the same"}.`,
  );
  lines.push("");

  const headline = results.rows.filter((row) => row.headline);
  if (headline.length > 0) {
    lines.push("## Summary: edge ÷ peer");
    lines.push("");
    const peers = ["bare-do", "sio-durable-peer", "sio-peer", "ws-peer"];
    // The baseline commit (--baseline-ref), of the row's own protocol, first when there is one.
    const baseOf = (row) => row.peers.find((peer) => peer.startsWith("base-"));
    const withBase = headline.some((row) => baseOf(row) !== undefined);
    const labels = [...(withBase ? ["edge ÷ edge @base"] : []), ...peers.map((p) => RATIO_LABELS[p])];
    lines.push(`| scenario | metric | edge | ${labels.join(" | ")} |`);
    lines.push(`| --- | --- | ---: | ${labels.map(() => "---:").join(" | ")} |`);
    for (const row of headline) {
      const base = baseOf(row);
      const ratios = [
        ...(withBase ? [row.better && base ? cell(row.ratios[base], fmtRatio) : "—"] : []),
        ...peers.map((peer) => (row.better && row.peers.includes(peer) ? cell(row.ratios[peer], fmtRatio) : "—")),
      ];
      lines.push(
        `| ${row.scenario} | ${row.metric} (${row.unit}) | ${cell(row.values[row.edgeTarget])} | ${ratios.join(" | ")} |`,
      );
    }
    lines.push("");
  }

  for (const [family, title] of Object.entries(FAMILY_TITLES)) {
    const rows = results.rows.filter((row) => row.family === family);
    if (rows.length === 0) continue;
    lines.push(`## ${title}`);
    lines.push("");
    familyTable(lines, rows);
    lines.push("");
  }

  lines.push("## Who was busy");
  lines.push("");
  lines.push(
    "CPU as % of one core over each load-generator run (the machine has " +
      `${m.cpus} cores), median over the repetitions (max). "loadgen" is the load generator's own process.cpuUsage(); "busiest phase" its highest phase (≥ 0.5 s); "server" the server's process group; "other" is the machine's busy time minus the server, the load generator and the orchestrator (anything else running).`,
  );
  lines.push("");
  lines.push("| run | runs | loadgen CPU | busiest loadgen phase | server CPU | other CPU | note |");
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
  const byLabel = new Map();
  for (const job of results.jobs ?? []) byLabel.set(job.label, [...(byLabel.get(job.label) ?? []), job]);
  const medMax = (jobs, field) => {
    const values = jobs.map((job) => job[field]).filter(finite);
    if (values.length === 0) return "—";
    const max = Math.max(...values);
    return values.length > 1 ? `${fmt(median(values))} (${fmt(max)}) %` : `${fmt(max)} %`;
  };
  for (const [label, jobs] of byLabel) {
    const notes = [];
    const busiest = Math.max(...jobs.map((job) => job.busiestLoadgenPhasePercent ?? 0));
    if (busiest >= 85) notes.push("load generator near one full core: it may be the bottleneck");
    for (const job of jobs) {
      if (job.error) notes.push(`rep ${job.rep} failed: ${job.error.slice(0, 120)}`);
      if (job.lost > 0) notes.push(`rep ${job.rep}: ${job.lost} lost`);
      if (job.serverDied) notes.push(`rep ${job.rep}: server exited`);
    }
    lines.push(
      `| ${label} | ${jobs.length} | ${medMax(jobs, "loadgenPercent")} | ${medMax(jobs, "busiestLoadgenPhasePercent")} | ${medMax(jobs, "serverCpuPercent")} | ${medMax(jobs, "otherCpuPercent")} | ${notes.join("; ")} |`,
    );
  }
  lines.push("");
  lines.push("## Notes");
  lines.push("");
  lines.push(
    "- Server CPU per unit of work is the CPU time of the server's main process during the phase (the runtime workerd under `wrangler dev`, the node process for a peer; from /proc, 10 ms ticks) ÷ the messages delivered, events acknowledged or sockets opened in it.",
  );
  const s = results.scenarios;
  if (s.connections) {
    lines.push(
      `- Connections: each socket is an upgrade (JWT in the query, checked by the edge and the socket.io peer; ignored by the bare DO; none for the ws peer) then a subscribe that waits for \`subscribed\`, 50 at a time. Memory: the server's VmRSS after a 20-socket warm-up (baseline) and with all sockets open, (open − baseline) ÷ sockets: a rough figure (allocator and GC timing move it), from the first repetition only (later ones reuse the memory the previous repetition's sockets freed; their figures are in the JSON). Under \`wrangler dev\` (edge, bare DO) it is the runtime workerd that runs the Worker and the Durable Objects (wrangler's dev proxy is not counted${m.edgeEntry?.startsWith("wrangler dev's public port") ? "; its share is on its own row" : ""}); for a peer, its node process.`,
    );
  }
  if (s.fanout) {
    lines.push(
      `- Fan-out: N subscribers on one channel (edge JSON and bare DO: \`simulation_updates\`; edge Socket.IO: one \`market\` commodity; socket.io peer: one room; ws peer: every client). ` +
        `The publisher (in the load generator) posts ${s.fanout.params.rateEvents} events at ${s.fanout.params.rate}/s (≤ 16 posts in flight), waits for delivery, then a burst (${s.fanout.params.burst}). ` +
        "Each event carries its send time. Latency is publish → receive over every (event, subscriber); delivered msg/s is deliveries ÷ (first send → last receive). Lost = expected − delivered, expected = accepted events × subscribers. " +
        'When "delivered @ rate" is below "offered", the target could not keep up and its latencies there are mostly queueing.',
    );
  }
  if (s.latency) {
    lines.push(
      `- Latency below saturation: N=${s.latency.params.n} subscribers, ${s.latency.params.rate} single events/s for ${s.latency.params.seconds} s (fixed schedule), well under every target's delivery ceiling; p50/p99 over every (event, subscriber).`,
    );
  }
  if (s.throughput) {
    const t = s.throughput.params;
    lines.push(
      `- Throughput through one topic: N=${t.n} subscribers; ${t.events} single events with ${t.inFlight} posts in flight, then ${t.batchEvents} events in batches of ${t.batch} with ${t.batchInFlight} in flight, each as fast as acknowledged. events/s = deliveries ÷ N ÷ (first send → last receive): events fully fanned out per second.`,
    );
  }
  if (s.fanout || s.latency || s.throughput) {
    lines.push(
      "- Fan-out, latency and throughput jobs with the same N share one load-generator run per target and repetition (subscribers opened once, phases in turn, each drained before the next).",
    );
  }
  if (s.ingest) lines.push(`- Ingest: ${s.ingest.note}. Nobody subscribes.`);
  if (s.collab) {
    lines.push(
      `- Collaborative editing: JSON editors (start_editing, then update_resource each on its own path) at a fixed total rate; latency is update_resource sent → resource_updated received by each other editor, and by the last of them ("seen by all"). The document run posts its edits as resource_updated to /v1/ingest in batches of 100 (the document applies each as its own edit; its log is compacted every 500 updates), on 500 paths overwritten again and again, while ${s.collab.params.docEditors} JSON editors watch and must see every edit. Load time: the first GET /v1/resources after \`wrangler dev\` was restarted on the same state. Peers: ${s.collab.peers}.`,
    );
  }
  lines.push("");
  if (results.problems.length > 0) {
    lines.push("## Problems");
    lines.push("");
    for (const problem of results.problems) {
      const first = problem.lines?.[0];
      const detail = first
        ? `: \`${first.line.slice(0, 200)}\` ×${first.count}${problem.lines.length > 1 ? ` and ${problem.lines.length - 1} other lines (see JSON)` : ""}`
        : "";
      lines.push(`- ${problem.where}: ${String(problem.error).split("\n")[0]}${detail}`);
    }
  } else {
    lines.push("No problems: no failed run, no loss, no server error output.");
  }
  lines.push("");
  return lines.join("\n");
}
