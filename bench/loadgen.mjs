/**
 * The bench's load generator: one child process (child_process.fork) per scenario and target,
 * so its CPU is its own and it never shares an event loop with the orchestrator or a server.
 *
 * Protocol with bench/run.mjs over the IPC channel:
 *   ← {type:"run", job}                          what to do (see the job shapes below)
 *   → {type:"progress", line}                    a line for the console
 *   → {type:"checkpoint", name}  ← {type:"continue"}   the orchestrator samples the server here
 *   → {type:"result", ok, result | error}        then this process exits
 *
 * Every loop is bounded in count and in time; all traffic goes to the URLs in the job
 * (127.0.0.1). The JWT secret comes in the environment (BENCH_JWT_SECRET), never in argv.
 * The clock for every latency is performance.timeOrigin + performance.now() of this process:
 * senders and receivers are both here.
 */
import { Agent, request } from "node:http";
import { SignJWT } from "jose";
import { clientKind, JsonSocket, subscriber, withTimeout } from "./lib/clients.mjs";
import { now, pool, round, sleep, summarize } from "./lib/stats.mjs";

const SECRET = new TextEncoder().encode(process.env.BENCH_JWT_SECRET ?? "");

function send(message) {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send(message, () => resolve());
  });
}
const progress = (line) => void send({ type: "progress", line });

let onContinue = null;
async function checkpoint(name, info = {}) {
  const reply = new Promise((resolve) => {
    onContinue = resolve;
  });
  await send({ type: "checkpoint", name, info });
  return withTimeout(reply, 60_000, `checkpoint ${name}`);
}

process.on("message", (message) => {
  if (message?.type === "run") void main(message.job);
  else if (message?.type === "continue") onContinue?.(message.data);
});
process.on("disconnect", () => process.exit(2));

/** Everything opened by this process, closed before it reports. */
const openClients = new Set();

async function main(job) {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let outcome;
  try {
    const result = await SCENARIOS[job.scenario](job);
    outcome = { ok: true, result };
  } catch (error) {
    outcome = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  await closeAll();
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  if (outcome.ok) outcome.result.loadgenWhole = cpuFigures(cpu, wallMs);
  await send({ type: "result", ...outcome });
  process.exit(0);
}

async function closeAll() {
  const clients = [...openClients];
  openClients.clear();
  await withTimeout(
    pool(clients, 200, (client) => client.close().catch(() => {})),
    10_000,
    "closing clients",
  ).catch(() => {});
}

function cpuFigures(cpu, wallMs) {
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const percent = (cpuMs / wallMs) * 100;
  return { cpuMs: round(cpuMs, 0), wallMs: round(wallMs, 0), cpuPercentOfOneCore: round(percent, 1) };
}

/** Measures this process's CPU over `fn`. */
async function measured(fn) {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const value = await fn();
  return { value, loadgen: cpuFigures(process.cpuUsage(cpu0), performance.now() - wall0) };
}

/**
 * Measures `fn` as the phase `name`: the orchestrator samples the server at the checkpoints
 * `start:<name>` and `end:<name>` (its CPU over the phase), and the load generator its own CPU.
 */
async function measuredPhase(name, fn) {
  await checkpoint(`start:${name}`);
  const run = await measured(fn);
  await checkpoint(`end:${name}`, { loadgenCpuMs: run.loadgen.cpuMs });
  return run;
}

const sign = (claims) =>
  new SignJWT(claims.extra ?? {})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(SECRET);

async function signMany(count, claimsOf) {
  return pool(
    Array.from({ length: count }, (_, i) => i),
    64,
    (i) => sign(claimsOf(i)),
  );
}

/** Polls until `done()` or `idleMs` without progress (per `progressOf()`) or `capMs` in total. */
async function waitDrain(done, progressOf, idleMs, capMs) {
  const start = performance.now();
  let last = progressOf();
  let lastChange = performance.now();
  while (!done()) {
    const elapsed = performance.now() - start;
    if (elapsed > capMs) return { drained: false, reason: `cap ${capMs} ms` };
    const current = progressOf();
    if (current !== last) {
      last = current;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > idleMs) {
      return { drained: false, reason: `nothing new for ${idleMs} ms` };
    }
    await sleep(20);
  }
  return { drained: true, waitedMs: round(performance.now() - start, 0) };
}

/**
 * Opens `count` subscribers, `concurrency` at a time; returns the ready ones and the failures.
 * Stops starting new ones once more than max(10, 2 %) have failed: a server that refuses or
 * hangs is recorded, not waited on 5,000 times.
 */
async function openSubscribers(job, count, makeOne, label) {
  const clients = [];
  const failures = [];
  const times = [];
  const maxFailures = Math.max(10, Math.ceil(count * 0.02));
  let done = 0;
  let abandoned = 0;
  const started = performance.now();
  let lastReport = started;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    job.concurrency,
    async (i) => {
      if (failures.length > maxFailures) {
        abandoned++;
        return;
      }
      const t0 = performance.now();
      const client = makeOne(i);
      openClients.add(client);
      try {
        await client.ready;
        times.push(performance.now() - t0);
        clients[i] = client;
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
        openClients.delete(client);
        void client.close().catch(() => {});
      }
      done++;
      if (performance.now() - lastReport > 2_000) {
        lastReport = performance.now();
        progress(
          `${label}: ${done}/${count} connected+subscribed${failures.length ? `, ${failures.length} failed` : ""}`,
        );
      }
    },
  );
  if (abandoned > 0) progress(`${label}: gave up after ${failures.length} failures (${abandoned} not attempted)`);
  const wallMs = performance.now() - started;
  return { clients, failures, times, wallMs, abandoned };
}

/**
 * One HTTP POST over a keep-alive agent (node:http: much cheaper per request than fetch, so the
 * publisher is less likely to be the bottleneck). Bounded by a 30 s timeout.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function httpPost(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { ...headers, "Content-Length": Buffer.byteLength(body) }, timeout: 30_000 },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out after 30 s")));
    req.on("error", reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// Publishers: one event, or a batch, to each target's publish endpoint

/**
 * The publish endpoint of a target and how an event of the workload is written for it. Every
 * event carries its send time: in `message` of simulation_progress (edge JSON and the peers), in
 * `payload.volume` of market-update (edge Socket.IO; `payload.timestamp` has it too, to the ms).
 */
async function publisher(job, key) {
  const token = await sign({ sub: "bench-publisher", extra: { scope: "publish" } });
  const prefix = `bench|${job.tag}|`;
  const simulation = (idx, t) => ({
    simulation_id: key,
    progress: idx % 101,
    status: "processing",
    message: `${prefix}${idx}|${t}`,
  });
  let url;
  let event;
  switch (clientKind(job.target)) {
    case "edge-json":
    case "bare-do":
      url = `${job.httpUrl}/v1/ingest`;
      event = (idx, t, id) => ({ event: "simulation_progress", data: simulation(idx, t), ...(id ? { id } : {}) });
      break;
    case "edge-sio":
      url = `${job.httpUrl}/v1/ingest`;
      event = (idx, t, id) => {
        const iso = new Date(Math.floor(t)).toISOString();
        return {
          event: "market-update",
          data: {
            type: "MARKET_UPDATE",
            payload: { commodity: key, price: idx, volume: t, timestamp: iso },
            timestamp: iso,
          },
          ...(id ? { id } : {}),
        };
      };
      break;
    case "sio-peer":
    case "sio-durable-peer":
      url = `${job.httpUrl}/publish`;
      event = (idx, t, id) => ({
        room: `simulation:${key}`,
        event: "simulation_progress",
        data: simulation(idx, t),
        ...(id ? { id } : {}),
      });
      break;
    case "ws-peer":
      url = `${job.httpUrl}/publish`;
      event = (idx, t) => ({ event: "simulation_progress", data: simulation(idx, t) });
      break;
    default:
      throw new Error(`no publisher for ${job.target}`);
  }
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  /** Posts `body` (one event or an array); resolves {ok, status, ms, text}. */
  const post = async (body) => {
    const t0 = now();
    try {
      const { status, text } = await httpPost(url, headers, JSON.stringify(body));
      return { ok: status === 200, status, ms: now() - t0, text };
    } catch (error) {
      return { ok: false, status: 0, ms: now() - t0, text: error instanceof Error ? error.message : String(error) };
    }
  };
  return { event, post, prefix };
}

/** Decodes the send time and index the publisher put into an event, or null for another event. */
function decoder(job, prefix) {
  if (clientKind(job.target) === "edge-sio") {
    return (data) => {
      const payload = data?.payload;
      if (!payload || typeof payload.volume !== "number" || typeof payload.price !== "number") return null;
      return { idx: payload.price, t: payload.volume };
    };
  }
  return (data) => {
    const message = data?.message;
    if (typeof message !== "string" || !message.startsWith(prefix)) return null;
    const [idx, t] = message.slice(prefix.length).split("|");
    return { idx: Number(idx), t: Number(t) };
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const SCENARIOS = {
  /**
   * Fan-out: N subscribers of one channel (or room, or feed), then `job.phases` one after
   * another, each drained before the next. A phase posts `events` single events or batches of
   * `batch`; either on a fixed schedule of `rate` events/s (≤ `maxInFlight` posts in flight), or
   * as fast as they are acknowledged with `inFlight` posts in flight (bounded by `capMs`). The
   * orchestrator samples the server's CPU at each phase's start and end (checkpoints).
   */
  async fanout(job) {
    const key = `fan_${job.tag}`;
    const label = `fanout ${job.target} N=${job.n}`;
    const phases = [];
    let totalEvents = 0;
    for (const [index, spec] of job.phases.entries()) {
      phases.push({
        spec: { batch: 1, inFlight: 1, maxInFlight: 16, capMs: 30_000, ...spec },
        index,
        from: totalEvents,
        to: totalEvents + spec.events,
        latencies: [],
        delivered: 0,
        duplicates: 0,
        accepted: 0,
        refused: 0,
        refusals: [],
        postMs: [],
        firstSend: Number.POSITIVE_INFINITY,
        lastRecv: 0,
      });
      totalEvents += spec.events;
    }
    const phaseOf = new Uint8Array(totalEvents);
    for (const phase of phases) phaseOf.fill(phase.index, phase.from, phase.to);
    const pub = await publisher(job, key);
    const decode = decoder(job, pub.prefix);
    const tokens = await signMany(job.n, (i) => ({ sub: `fan-${job.tag}-${i}` }));
    const seen = new Uint8Array(job.n * totalEvents);
    const acceptedIdx = new Uint8Array(totalEvents);
    let foreign = 0;
    const serverErrors = [];
    const onEventOf = (client) => (data) => {
      const recv = now();
      const decoded = decode(data);
      if (!decoded || !(decoded.idx >= 0 && decoded.idx < totalEvents)) {
        foreign++;
        return;
      }
      const phase = phases[phaseOf[decoded.idx]];
      const slot = client * totalEvents + decoded.idx;
      if (seen[slot]) {
        phase.duplicates++;
        return;
      }
      seen[slot] = 1;
      phase.delivered++;
      phase.latencies.push(recv - decoded.t);
      if (recv > phase.lastRecv) phase.lastRecv = recv;
    };

    progress(`${label}: connecting ${job.n} subscribers (${job.concurrency} at a time)`);
    const setup = await openSubscribers(
      job,
      job.n,
      (i) =>
        subscriber(job.target, {
          wsUrl: job.wsUrl,
          httpUrl: job.httpUrl,
          token: tokens[i],
          userId: `fan-${job.tag}-${i}`,
          key,
          onEvent: onEventOf(i),
          onError: (data) => serverErrors.length < 20 && serverErrors.push(data),
        }),
      label,
    );
    const ready = setup.clients.filter(Boolean).length;
    if (ready === 0) throw new Error(`no subscriber could connect: ${setup.failures.slice(0, 3).join("; ")}`);
    progress(`${label}: ${ready} subscribed in ${Math.round(setup.wallMs)} ms; publishing`);
    await sleep(300); // let the last subscriptions settle at the hubs

    /** Posts the events `idxs` (one event, or a batch), each stamped with its send time. */
    const publish = async (phase, idxs) => {
      const t = now();
      if (t < phase.firstSend) phase.firstSend = t;
      const events = idxs.map((idx) => pub.event(idx, now()));
      const result = await pub.post(events.length === 1 ? events[0] : events);
      phase.postMs.push(result.ms);
      if (result.ok) {
        phase.accepted += idxs.length;
        for (const idx of idxs) acceptedIdx[idx] = 1;
      } else {
        phase.refused += idxs.length;
        if (phase.refusals.length < 5) phase.refusals.push(`${result.status} ${result.text.slice(0, 300)}`);
      }
    };
    const runPhase = async (phase) => {
      const { spec } = phase;
      const start = performance.now();
      let late = 0;
      if (spec.rate) {
        // Fixed schedule: event k is due at start + k / rate (a batch when `batch` > 1).
        const interval = (1000 * spec.batch) / spec.rate;
        const inflight = new Set();
        for (let k = 0, idx = phase.from; idx < phase.to; k++) {
          const wait = start + k * interval - performance.now();
          if (wait > 0) await sleep(wait);
          else if (wait < -interval) late++;
          while (inflight.size >= spec.maxInFlight) await Promise.race(inflight);
          const idxs = [];
          while (idxs.length < spec.batch && idx < phase.to) idxs.push(idx++);
          const p = publish(phase, idxs).finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await Promise.all(inflight);
      } else {
        // As fast as acknowledged, `inFlight` posts at a time.
        let next = phase.from;
        const worker = async () => {
          while (next < phase.to && performance.now() - start < spec.capMs) {
            const idxs = [];
            while (idxs.length < spec.batch && next < phase.to) idxs.push(next++);
            await publish(phase, idxs);
          }
        };
        await Promise.all(Array.from({ length: spec.inFlight }, worker));
      }
      const publishMs = performance.now() - start;
      const drain = await waitDrain(
        () => phase.delivered >= phase.accepted * ready,
        () => phase.delivered,
        job.drainIdleMs,
        job.drainCapMs,
      );
      return { late, publishMs, drain };
    };

    /** Deliveries of acknowledged events of `phase`: what `expected` counts. */
    const deliveredAccepted = (phase) => {
      let count = 0;
      for (let c = 0; c < job.n; c++) {
        if (!setup.clients[c]) continue;
        for (let i = phase.from; i < phase.to; i++) if (acceptedIdx[i] && seen[c * totalEvents + i]) count++;
      }
      return count;
    };
    const results = {};
    for (const phase of phases) {
      const { spec } = phase;
      const run = await measuredPhase(spec.name, () => runPhase(phase));
      const expected = phase.accepted * ready;
      const ofAccepted = deliveredAccepted(phase);
      const windowMs = phase.lastRecv > 0 ? phase.lastRecv - phase.firstSend : null;
      const deliveredPerSecond = windowMs ? phase.delivered / (windowMs / 1000) : null;
      results[spec.name] = {
        events: spec.events,
        batch: spec.batch,
        ...(spec.rate
          ? { rate: spec.rate, maxInFlight: spec.maxInFlight, offeredPerSecond: spec.rate * ready }
          : { inFlight: spec.inFlight }),
        eventsAccepted: phase.accepted,
        eventsRefused: phase.refused,
        refusals: phase.refusals,
        publishRate: round(phase.accepted / (run.value.publishMs / 1000), 1),
        postMs: summarize(phase.postMs),
        expected,
        delivered: phase.delivered,
        lost: expected - ofAccepted,
        duplicates: phase.duplicates,
        // Events whose post failed (timeout, error) but which were stored and delivered anyway.
        deliveredUnacknowledged: phase.delivered - ofAccepted,
        deliveredPerSecond: round(deliveredPerSecond, 0),
        // Events through the topic per second, each delivered to every subscriber.
        eventsPerSecond: deliveredPerSecond === null ? null : round(deliveredPerSecond / ready, 1),
        windowMs: round(windowMs, 0),
        latencyMs: summarize(phase.latencies),
        drain: run.value.drain,
        ...(spec.rate ? { latePosts: run.value.late } : {}),
        loadgen: run.loadgen,
      };
      phase.latencies = []; // free the samples of a large N before the next phase
      const r = results[spec.name];
      progress(
        `${label} ${spec.name}: ${r.delivered}/${r.expected} delivered, ${r.deliveredPerSecond} msg/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms`,
      );
    }
    const stillOpen = setup.clients.filter((c) => c?.isOpen()).length;
    const sum = (field) => Object.values(results).reduce((total, r) => total + r[field], 0);
    return {
      n: job.n,
      subscribed: ready,
      connectFailures: setup.failures.length,
      connectFailureSamples: [...new Set(setup.failures)].slice(0, 5),
      connectAbandoned: setup.abandoned,
      subscribeMs: summarize(setup.times),
      subscribePerSecond: round(ready / (setup.wallMs / 1000), 1),
      stillOpenAtEnd: stillOpen,
      phases: results,
      expected: sum("expected"),
      delivered: sum("delivered"),
      lost: sum("lost"),
      duplicates: sum("duplicates"),
      publishRefused: sum("eventsRefused"),
      foreignEvents: foreign,
      serverErrors,
    };
  },

  /**
   * Connections: `n` sockets, each an authenticated upgrade then a subscribe to one shared
   * channel, `concurrency` in flight. Checkpoints let the orchestrator read the server's RSS
   * with only the warm-up behind it ("baseline") and with all `n` open ("open").
   */
  async connections(job) {
    const key = `conn_${job.tag}`;
    const label = `connections ${job.target} N=${job.n}`;
    const tokens = await signMany(job.n + job.warmup, (i) => ({ sub: `conn-${job.tag}-${i}` }));
    const make = (offset) => (i) =>
      subscriber(job.target, {
        wsUrl: job.wsUrl,
        httpUrl: job.httpUrl,
        token: tokens[offset + i],
        userId: `conn-${job.tag}-${offset + i}`,
        key,
        onEvent: () => {},
      });
    // Warm-up: wake the hubs/topic (or JIT the peer), then close, so the baseline includes them.
    const warm = await openSubscribers(job, job.warmup, make(job.n), `${label} warm-up`);
    await Promise.all(warm.clients.filter(Boolean).map((c) => c.close()));
    for (const c of warm.clients) openClients.delete(c);
    await sleep(job.settleMs);
    await checkpoint("baseline");
    progress(`${label}: opening ${job.n} sockets (${job.concurrency} at a time)`);
    const run = await measuredPhase("open", () => openSubscribers(job, job.n, make(0), label));
    const setup = run.value;
    const opened = setup.clients.filter(Boolean).length;
    await sleep(job.settleMs);
    const openBeforeSample = setup.clients.filter((c) => c?.isOpen()).length;
    await checkpoint("open", { open: openBeforeSample });
    const openAfterSample = setup.clients.filter((c) => c?.isOpen()).length;
    progress(
      `${label}: ${opened} open in ${Math.round(setup.wallMs)} ms (${Math.round(opened / (setup.wallMs / 1000))}/s)`,
    );
    return {
      n: job.n,
      concurrency: job.concurrency,
      opened,
      failures: setup.failures.length,
      failureSamples: [...new Set(setup.failures)].slice(0, 5),
      abandoned: setup.abandoned,
      wallMs: round(setup.wallMs, 0),
      perSecond: round(opened / (setup.wallMs / 1000), 1),
      connectSubscribeMs: summarize(setup.times),
      stillOpenAtSample: openAfterSample,
      loadgen: run.loadgen,
    };
  },

  /**
   * Ingest: events acknowledged per second by the publish endpoint, in three modes, each
   * bounded by `seconds` and `maxEvents`: single events one at a time; single events with
   * `concurrency` in flight; batches of 100 one at a time. Events carry an `id` (the edge and the
   * durable socket.io peer deduplicate by it; the others ignore it); nobody subscribes.
   */
  async ingest(job) {
    const key = `ing_${job.tag}`;
    const pub = await publisher(job, key);
    const modes = [
      { name: "single", inFlight: 1, batch: 1 },
      { name: `single_c${job.concurrency}`, inFlight: job.concurrency, batch: 1 },
      { name: "batch100", inFlight: 1, batch: 100 },
    ];
    const results = {};
    let idx = 0;
    for (const mode of modes) {
      const run = await measuredPhase(mode.name, async () => {
        const times = [];
        let acked = 0;
        let refused = 0;
        const refusals = [];
        const start = performance.now();
        const deadline = start + job.seconds * 1000;
        let issued = 0;
        const worker = async () => {
          while (performance.now() < deadline && issued < job.maxEvents) {
            issued += mode.batch;
            const events = [];
            for (let b = 0; b < mode.batch; b++) {
              const i = idx++;
              events.push(pub.event(i, now(), `ev-${job.tag}-${i}`));
            }
            const result = await pub.post(mode.batch === 1 ? events[0] : events);
            times.push(result.ms);
            if (result.ok) acked += mode.batch;
            else {
              refused += mode.batch;
              if (refusals.length < 5) refusals.push(`${result.status} ${result.text.slice(0, 300)}`);
            }
          }
        };
        await Promise.all(Array.from({ length: mode.inFlight }, worker));
        const wallMs = performance.now() - start;
        return { acked, refused, refusals, wallMs, times };
      });
      const { acked, refused, refusals, wallMs, times } = run.value;
      results[mode.name] = {
        inFlight: mode.inFlight,
        batch: mode.batch,
        eventsAcked: acked,
        eventsRefused: refused,
        refusals,
        wallMs: round(wallMs, 0),
        eventsPerSecond: round(acked / (wallMs / 1000), 1),
        requestMs: summarize(times),
        loadgen: run.loadgen,
      };
      progress(`ingest ${job.target} ${mode.name}: ${results[mode.name].eventsPerSecond} events/s`);
    }
    const refusedTotal = Object.values(results).reduce((sum, mode) => sum + mode.eventsRefused, 0);
    const single = results.single.eventsPerSecond;
    const concurrent = results[`single_c${job.concurrency}`].eventsPerSecond;
    return {
      durable: clientKind(job.target).startsWith("edge") || job.target === "sio-durable-peer",
      modes: results,
      // Single events: throughput with `concurrency` posts in flight ÷ with one.
      inFlightSpeedup: single > 0 ? round(concurrent / single, 2) : null,
      refusedTotal,
    };
  },

  /**
   * Collaborative editing, latency: `editors` JSON clients start_editing one fund, then edit at
   * `rate` edits/s in total for `seconds` (round robin; each editor its own path), and every
   * editor records when it sees each other editor's edit.
   */
  async "collab-latency"(job) {
    const fund = `fund_${job.tag}`;
    const label = `collab ${job.editors} editors`;
    const editors = await openEditors(job, fund, label);
    const E = editors.length;
    const edits = Math.round(job.rate * job.seconds);
    const sendTimes = new Float64Array(edits);
    const seenBy = new Uint16Array(edits);
    const seenAllAt = new Float64Array(edits);
    const deliveries = [];
    const acks = [];
    const errors = [];
    let duplicatesOrForeign = 0;
    let acked = 0;
    const seen = new Uint8Array(E * edits);
    for (const [e, editor] of editors.entries()) {
      editor.onFrame = (frame) => {
        const recv = now();
        if (frame.event === "error") {
          if (errors.length < 10) errors.push(frame.data);
          return;
        }
        if (frame.event !== "resource_updated") return;
        const k = frame.data?.value?.k;
        if (typeof k !== "number" || k < 0 || k >= edits || frame.data?.resource_id !== fund) {
          duplicatesOrForeign++;
          return;
        }
        if (seen[e * edits + k]) {
          duplicatesOrForeign++;
          return;
        }
        seen[e * edits + k] = 1;
        if (k % E === e) {
          acked++;
          acks.push(recv - sendTimes[k]);
          return;
        }
        deliveries.push(recv - sendTimes[k]);
        seenBy[k]++;
        if (recv > seenAllAt[k]) seenAllAt[k] = recv;
      };
    }
    // Warm-up, not measured: one acknowledged edit per editor (wakes the document and its topic).
    for (const [e, editor] of editors.entries()) {
      await editor.request(
        "update_resource",
        { resource_type: "fund", resource_id: fund, path: `warmup.e${e}`, value: 0 },
        20_000,
      );
    }
    await sleep(300);
    progress(`${label}: editing at ${job.rate}/s for ${job.seconds} s`);
    const run = await measured(async () => {
      const interval = 1000 / job.rate;
      const start = performance.now();
      for (let k = 0; k < edits; k++) {
        const wait = start + k * interval - performance.now();
        if (wait > 0) await sleep(wait);
        const e = k % E;
        sendTimes[k] = now();
        editors[e].send(
          "update_resource",
          { resource_type: "fund", resource_id: fund, path: `editors.e${e}.last`, value: { k, t: sendTimes[k] } },
          `u${k}`,
        );
      }
      return waitDrain(
        () => acked >= edits && deliveries.length >= edits * (E - 1),
        () => acked + deliveries.length,
        job.drainIdleMs,
        job.drainCapMs,
      );
    });
    const seenAll = [];
    for (let k = 0; k < edits; k++) if (seenBy[k] === E - 1) seenAll.push(seenAllAt[k] - sendTimes[k]);
    const expectedDeliveries = acked * (E - 1);
    progress(`${label}: ${acked}/${edits} acked, ${deliveries.length}/${edits * (E - 1)} deliveries`);
    return {
      editors: E,
      edits,
      acked,
      expectedDeliveries,
      delivered: deliveries.length,
      lost: expectedDeliveries - deliveries.length,
      duplicatesOrForeign,
      editToOtherEditorMs: summarize(deliveries),
      editSeenByAllMs: summarize(seenAll),
      ackMs: summarize(acks),
      errors,
      drain: run.value,
      loadgen: run.loadgen,
    };
  },

  /**
   * Collaborative editing, document growth: `edits` edits of one fund, posted as
   * `resource_updated` to /v1/ingest in batches of 100 (one in flight). The document applies
   * each as its own edit, exactly as an `update_resource` (own Yjs transaction, log entry and
   * topic event), and compacts its log every 500 updates. They go to 500 paths overwritten again
   * and again (the Yjs state keeps what was overwritten). `editors` JSON editors hold editing
   * sessions meanwhile and must each see every edit. Then the document is read (warm).
   */
  async "collab-doc"(job) {
    const fund = `doc_${job.tag}`;
    const label = `collab document ${job.edits} edits`;
    const editors = await openEditors(job, fund, label);
    const seen = editors.map(() => new Uint8Array(job.edits));
    const delivered = editors.map(() => 0);
    for (const [e, editor] of editors.entries()) {
      editor.onFrame = (frame) => {
        if (frame.event !== "resource_updated" || frame.data?.resource_id !== fund) return;
        const k = frame.data.value;
        if (typeof k === "number" && k >= 0 && k < job.edits && !seen[e][k]) {
          seen[e][k] = 1;
          delivered[e]++;
        }
      };
    }
    const token = await sign({ sub: "bench-publisher", extra: { scope: "publish" } });
    const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
    let acked = 0;
    let refused = 0;
    const refusals = [];
    const requestTimes = [];
    const run = await measured(async () => {
      const start = performance.now();
      let lastReport = start;
      for (let k0 = 0; k0 < job.edits && performance.now() - start < job.capMs; k0 += 100) {
        const batch = [];
        for (let k = k0; k < Math.min(job.edits, k0 + 100); k++) {
          const j = k % 500;
          batch.push({
            event: "resource_updated",
            data: {
              resource_type: "fund",
              resource_id: fund,
              path: `sections.s${j % 20}.f${Math.floor(j / 20)}`,
              value: k,
              updated_by: "bench-publisher@bench.local",
            },
            id: `edit-${job.tag}-${k}`,
          });
        }
        const t0 = now();
        try {
          const { status, text } = await httpPost(`${job.httpUrl}/v1/ingest`, headers, JSON.stringify(batch));
          requestTimes.push(now() - t0);
          if (status === 200) acked += batch.length;
          else {
            refused += batch.length;
            if (refusals.length < 5) refusals.push(`${status} ${text.slice(0, 300)}`);
          }
        } catch (error) {
          refused += batch.length;
          if (refusals.length < 5) refusals.push(String(error.message));
        }
        if (performance.now() - lastReport > 3_000) {
          lastReport = performance.now();
          progress(`${label}: ${acked} acknowledged`);
        }
      }
      const wallMs = performance.now() - start;
      const total = () => delivered.reduce((a, b) => a + b, 0);
      const drain = await waitDrain(() => total() >= acked * editors.length, total, job.drainIdleMs, job.drainCapMs);
      return { wallMs, drain };
    });
    const { wallMs, drain } = run.value;
    // Read it back (warm): three GETs, the JSON size of the document.
    const reader = await sign({ sub: `reader-${job.tag}` });
    const gets = [];
    let documentBytes = null;
    let bodyBytes = null;
    for (let i = 0; i < 3; i++) {
      const t0 = now();
      const response = await fetch(`${job.httpUrl}/v1/resources/fund/${fund}`, {
        headers: { Authorization: `Bearer ${reader}` },
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      gets.push(now() - t0);
      if (response.status !== 200) throw new Error(`GET document: ${response.status} ${text.slice(0, 300)}`);
      bodyBytes = Buffer.byteLength(text);
      documentBytes = Buffer.byteLength(JSON.stringify(JSON.parse(text).document));
    }
    const expectedDeliveries = acked * editors.length;
    const deliveredTotal = delivered.reduce((a, b) => a + b, 0);
    progress(`${label}: ${acked} acknowledged in ${Math.round(wallMs)} ms; document ${documentBytes} bytes of JSON`);
    return {
      fund,
      via: "POST /v1/ingest, resource_updated, batches of 100, one in flight",
      editors: editors.length,
      edits: job.edits,
      acked,
      refused,
      refusals,
      wallMs: round(wallMs, 0),
      editsPerSecond: round(acked / (wallMs / 1000), 1),
      batchMs: summarize(requestTimes),
      expectedDeliveries,
      delivered: deliveredTotal,
      lost: expectedDeliveries - deliveredTotal,
      drain,
      documentJsonBytes: documentBytes,
      responseBytes: bodyBytes,
      warmGetMs: summarize(gets),
      loadgen: run.loadgen,
    };
  },
};

/** `job.editors` JSON clients with the edit scope, each with an editing session of `fund`. */
async function openEditors(job, fund, label) {
  const tokens = await signMany(job.editors, (i) => ({
    sub: `editor-${job.tag}-${i}`,
    extra: { scope: "edit", email: `editor${i}@bench.local` },
  }));
  const editors = await pool(tokens, 10, async (token) => {
    const socket = new JsonSocket(`${job.wsUrl}/v1/ws?token=${encodeURIComponent(token)}`);
    const client = { close: () => socket.closeAndWait() };
    openClients.add(client);
    await withTimeout(socket.opened, 20_000, "editor open", () => socket.terminate());
    const reply = await socket.request("start_editing", { resource_type: "fund", resource_id: fund }, 20_000);
    if (reply.event !== "editing_started") throw new Error(`start_editing refused: ${JSON.stringify(reply)}`);
    return socket;
  });
  await sleep(500); // editors_updated notices settle
  progress(`${label}: ${editors.length} editors editing ${fund}`);
  return editors;
}
