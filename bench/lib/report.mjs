/**
 * From a run's results to comparison rows (every figure of ours with its ratio to each peer)
 * and the markdown report. Pure.
 */

function find(runs, target, n) {
  return runs?.find((run) => run.target === target && (n === undefined || run.n === n));
}

const get = (object, path) => path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);

function ratio(ours, theirs) {
  if (typeof ours !== "number" || typeof theirs !== "number" || theirs === 0) return null;
  return Number((ours / theirs).toFixed(3));
}

/**
 * Rows: {scenario, metric, unit, better, edgeTarget, edge, sioPeer, wsPeer, vsSioPeer, vsWsPeer}.
 * `better` is "higher" or "lower" (for the ratio's reading), or null for counts.
 */
export function buildRows(results) {
  const rows = [];
  const push = (scenario, metric, unit, better, edgeTarget, edge, sio, ws) =>
    rows.push({
      scenario,
      metric,
      unit,
      better,
      edgeTarget,
      edge: edge ?? null,
      sioPeer: sio ?? null,
      wsPeer: ws ?? null,
      vsSioPeer: better ? ratio(edge, sio) : null,
      vsWsPeer: better ? ratio(edge, ws) : null,
    });

  const conn = results.scenarios.connections;
  if (conn) {
    const [e, s, w] = ["edge-json", "sio-peer", "ws-peer"].map((t) => find(conn.runs, t)?.result);
    const scen = `connections (N=${conn.params.n}, ${conn.params.concurrency} at a time)`;
    const metric = (name, unit, better, path) =>
      push(scen, name, unit, better, "edge-json", get(e, path), get(s, path), get(w, path));
    metric("authenticated upgrade + subscribe", "/s", "higher", "perSecond");
    metric("connect + subscribe p50", "ms", "lower", "connectSubscribeMs.p50");
    metric("connect + subscribe p99", "ms", "lower", "connectSubscribeMs.p99");
    metric("server RSS per open socket (edge: runtime workerd)", "bytes", "lower", "memory.perSocketBytes");
    if (
      get(e, "memory.devProxyPerSocketBytes") != null &&
      results.meta.edgeEntry?.startsWith("wrangler dev's public port")
    )
      metric("edge: + wrangler's dev proxy workerd, per socket", "bytes", null, "memory.devProxyPerSocketBytes");
    metric("sockets opened", "count", null, "opened");
    metric("failed", "count", null, "failures");
  }

  const fan = results.scenarios.fanout;
  if (fan) {
    for (const n of fan.params.ns) {
      const s = find(fan.runs, "sio-peer", n)?.result;
      const w = find(fan.runs, "ws-peer", n)?.result;
      for (const target of ["edge-json", "edge-sio"]) {
        const e = find(fan.runs, target, n)?.result;
        const scen = `fan-out N=${n}`;
        const metric = (name, unit, better, path) =>
          push(scen, name, unit, better, target, get(e, path), get(s, path), get(w, path));
        metric(`offered @ ${fan.params.rate}/s (rate × N)`, "msg/s", null, "offeredPerSecond");
        metric(`delivered @ ${fan.params.rate}/s`, "msg/s", "higher", "rate.deliveredPerSecond");
        metric("delivered, burst phase", "msg/s", "higher", "burst.deliveredPerSecond");
        metric("events accepted, burst phase", "events/s", "higher", "burst.publishRate");
        metric(`latency p50 @ ${fan.params.rate}/s`, "ms", "lower", "rate.latencyMs.p50");
        metric(`latency p95 @ ${fan.params.rate}/s`, "ms", "lower", "rate.latencyMs.p95");
        metric(`latency p99 @ ${fan.params.rate}/s`, "ms", "lower", "rate.latencyMs.p99");
        metric(`latency max @ ${fan.params.rate}/s`, "ms", "lower", "rate.latencyMs.max");
        metric("latency p50, burst", "ms", "lower", "burst.latencyMs.p50");
        metric("latency p99, burst", "ms", "lower", "burst.latencyMs.p99");
        metric("latency max, burst", "ms", "lower", "burst.latencyMs.max");
        metric("messages expected", "count", null, "expected");
        metric("messages lost", "count", null, "lost");
        metric("duplicates", "count", null, "duplicates");
      }
    }
  }

  const ing = results.scenarios.ingest;
  if (ing) {
    const [e, s, w] = ["edge-json", "sio-peer", "ws-peer"].map((t) => find(ing.runs, t)?.result);
    const scen = "ingest (edge durable; peers not)";
    const metric = (name, unit, better, path) =>
      push(scen, name, unit, better, "edge-json", get(e, path), get(s, path), get(w, path));
    const c = ing.params.concurrency;
    metric("single events, 1 in flight", "events/s", "higher", "modes.single.eventsPerSecond");
    metric("single events, 1 in flight, p50", "ms", "lower", "modes.single.requestMs.p50");
    metric("single events, 1 in flight, p99", "ms", "lower", "modes.single.requestMs.p99");
    metric(`single events, ${c} in flight`, "events/s", "higher", `modes.single_c${c}.eventsPerSecond`);
    metric(`single events, ${c} in flight, p99`, "ms", "lower", `modes.single_c${c}.requestMs.p99`);
    metric("batches of 100, 1 in flight", "events/s", "higher", "modes.batch100.eventsPerSecond");
    metric("batches of 100, p50", "ms", "lower", "modes.batch100.requestMs.p50");
    metric("events refused", "count", null, "refusedTotal");
  }

  const col = results.scenarios.collab;
  if (col) {
    for (const run of col.latency) {
      const r = run.result;
      const scen = `collab, ${run.job.editors} editors @ ${col.params.rate} edits/s`;
      const metric = (name, unit, better, path) => push(scen, name, unit, better, "edge-json", get(r, path));
      metric("edit → other editor p50", "ms", "lower", "editToOtherEditorMs.p50");
      metric("edit → other editor p99", "ms", "lower", "editToOtherEditorMs.p99");
      metric("edit → seen by all others p50", "ms", "lower", "editSeenByAllMs.p50");
      metric("edit → seen by all others p99", "ms", "lower", "editSeenByAllMs.p99");
      metric("edit → own acknowledgement p50", "ms", "lower", "ackMs.p50");
      metric("deliveries lost", "count", null, "lost");
    }
    const d = col.document?.result;
    if (col.document) {
      const scen = `collab document, ${col.params.docEdits} edits`;
      const metric = (name, unit, better, path) => push(scen, name, unit, better, "edge-json", get(d, path));
      metric("edits acknowledged (ingest, batches of 100)", "edits/s", "higher", "editsPerSecond");
      metric("edits lost (not seen by an editor)", "count", null, "lost");
      metric("document JSON", "bytes", "lower", "documentJsonBytes");
      metric("stored Yjs state (snapshot + log)", "bytes", "lower", "stored.yjsStateBytes");
      metric("log updates left after compaction", "count", null, "stored.logUpdates");
      metric("first GET after restart (load)", "ms", "lower", "afterRestart.firstGetMs");
      metric("GET, warm", "ms", "lower", "warmGetMs.p50");
    }
  }
  return rows;
}

const fmt = (value) => {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(2);
};
const fmtRatio = (value) => (value === null || value === undefined ? "—" : `${value.toFixed(2)}×`);

export function renderMarkdown(results) {
  const m = results.meta;
  const lines = [];
  lines.push(`# realtime-edge benchmark (${m.mode})`);
  lines.push("");
  lines.push(
    `${m.startedAt}, ${m.durationSeconds ?? "?"} s; ${m.cpus} × ${m.cpuModel ?? "CPU"}, ${m.memoryMiB} MiB; Node ${m.node}; wrangler ${m.versions.wrangler}, socket.io ${m.versions["socket.io"]}; commit ${m.gitCommit?.head?.slice(0, 10) ?? "?"}${m.gitCommit?.dirty ? " (src modified)" : ""}; load average at start ${m.loadAverageAtStart.join(" ")}.`,
  );
  lines.push("");
  lines.push(
    "Everything runs on this one machine over 127.0.0.1: `wrangler dev` (local workerd + SQLite), the two peers " +
      "(a: Node socket.io + jose JWT middleware + rooms; b: bare `ws` broadcast, no auth), and the load generator " +
      "(one process per run). Ratios are edge ÷ peer: for rates above 1 is better, for latencies, bytes and memory below 1 is better.",
  );
  lines.push("");
  lines.push(`Edge clients and publishers connect to ${m.edgeEntry ?? "wrangler dev"}.`);
  lines.push("");
  lines.push("| scenario | metric | edge | socket.io peer | ws peer | edge ÷ socket.io | edge ÷ ws |");
  lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const row of results.rows) {
    const edgeCell = row.edgeTarget === "edge-sio" ? `${fmt(row.edge)} (Socket.IO)` : fmt(row.edge);
    const na = row.scenario.startsWith("collab");
    lines.push(
      `| ${row.scenario} | ${row.metric} (${row.unit}) | ${edgeCell} | ${na ? "n/a" : fmt(row.sioPeer)} | ${na ? "n/a" : fmt(row.wsPeer)} | ${fmtRatio(row.vsSioPeer)} | ${fmtRatio(row.vsWsPeer)} |`,
    );
  }
  lines.push("");
  lines.push("## Who was busy");
  lines.push("");
  lines.push(
    "CPU as % of one core over each load-generator run (the machine has " +
      `${m.cpus} cores). "loadgen" is the load generator's own process.cpuUsage(); "other" is the machine's busy time minus the server, the load generator and the orchestrator (anything else running).`,
  );
  lines.push("");
  lines.push("| run | loadgen CPU | busiest loadgen phase | server CPU | other CPU | note |");
  lines.push("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const run of allRuns(results)) {
    const r = run.result;
    // Phases shorter than 0.5 s are left out: their CPU share is mostly start-up noise.
    const phases = [
      r?.loadgen,
      r?.rate?.loadgen,
      r?.burst?.loadgen,
      ...Object.values(r?.modes ?? {}).map((x) => x.loadgen),
    ]
      .filter((x) => x && x.wallMs >= 500)
      .map((x) => x.cpuPercentOfOneCore);
    const busiest = phases.length ? Math.max(...phases) : null;
    const notes = [];
    if (busiest !== null && busiest >= 85) notes.push("load generator near one full core: it may be the bottleneck");
    if (run.error) notes.push(`failed: ${String(run.error).split("\n")[0].slice(0, 120)}`);
    if (r?.lost > 0) notes.push(`${r.lost} lost`);
    if (run.serverDied) notes.push("server exited");
    lines.push(
      `| ${run.label} | ${fmt(r?.loadgenWhole?.cpuPercentOfOneCore)} % | ${fmt(busiest)} % | ${fmt(run.server?.cpuPercent)} % | ${fmt(run.machine?.otherProcessesCpuPercent)} % | ${notes.join("; ")} |`,
    );
  }
  lines.push("");
  lines.push("## Notes");
  lines.push("");
  const fan = results.scenarios.fanout;
  if (fan) {
    lines.push(
      `- Fan-out: N subscribers on one channel (edge JSON: \`simulation_updates\`; edge Socket.IO: one \`market\` commodity; socket.io peer: one room; ws peer: every client). ` +
        `The publisher (in the load generator) posts ${fan.params.rateEvents} events at ${fan.params.rate}/s, waits for delivery, then posts a burst as fast as each post is acknowledged (${fan.params.burst}). ` +
        "Each event carries its send time (simulation_progress `message`; market-update `payload.volume`, also `payload.timestamp` to the ms). Latency is publish → receive, over every (event, subscriber). Lost = expected − delivered, expected = accepted events × subscribers. " +
        'When "delivered @ rate" is below "offered", the target could not keep up with the fixed rate and its latencies there are mostly queueing. ' +
        "With one post in flight, a small-N burst is bounded by the publish round trip (for the edge: the durable ingest), a large-N burst by delivery.",
    );
  }
  if (results.scenarios.connections) {
    lines.push(
      `- Connections: each socket is an authenticated upgrade (JWT in the query; none for the ws peer) then a subscribe that waits for \`subscribed\`, 50 at a time. Memory: the server's VmRSS after a 20-socket warm-up (baseline) and with all sockets open, (open − baseline) ÷ sockets: a rough figure (allocator and GC timing move it). For the edge, the workerd runtime process that runs the Worker and the Durable Objects (wrangler dev's second workerd, its dev proxy, is not counted${m.edgeEntry?.startsWith("wrangler dev's public port") ? "; its share is on its own row" : ""}); for a peer, its node process.`,
    );
  }
  if (results.scenarios.ingest) lines.push(`- Ingest: ${results.scenarios.ingest.note}.`);
  if (results.scenarios.collab) {
    lines.push(
      `- Collaborative editing: JSON editors (start_editing, then update_resource each on its own path) at a fixed total rate; latency is update_resource sent → resource_updated received by each other editor, and by the last of them ("seen by all"). The document run posts its edits as resource_updated to /v1/ingest in batches of 100 (the document applies each as its own edit, as an update_resource; its log is compacted every 500 updates), on 500 paths overwritten again and again, while ${results.scenarios.collab.params.docEditors} JSON editors watch and must see every edit. Document size: its JSON, and the Yjs state stored in SQLite (snapshot + log), read from the local state files. Load time: the first GET /v1/resources after \`wrangler dev\` was restarted on the same state. Peers: ${results.scenarios.collab.peers}.`,
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

function allRuns(results) {
  const runs = [];
  const s = results.scenarios;
  for (const run of s.connections?.runs ?? []) runs.push({ ...run, label: `connections ${run.target}` });
  for (const run of s.fanout?.runs ?? []) runs.push({ ...run, label: `fan-out ${run.target} N=${run.n}` });
  for (const run of s.ingest?.runs ?? []) runs.push({ ...run, label: `ingest ${run.target}` });
  for (const run of s.collab?.latency ?? []) runs.push({ ...run, label: `collab ${run.job.editors} editors` });
  if (s.collab?.document) runs.push({ ...s.collab.document, label: "collab document" });
  return runs;
}
