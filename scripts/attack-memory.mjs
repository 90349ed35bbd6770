/**
 * Memory of the runtime under two attacks on a shared document (docs/PROTOCOL.md "What an update
 * may do", "Presence (awareness)"): RSS of the runtime workerd before, during and after.
 *   A "pending updates": 30 edit connections each send an update whose struct needs one it never
 *     sent (a clock gap). Yjs would keep it pending for ever; the document must refuse it (4400).
 *   B "presence flood": 50 read-only connections each send 8 awareness states of 300 KB (over
 *     MAX_AWARENESS_STATE_BYTES) and 200 query-awareness frames.
 * Usage: node scripts/attack-memory.mjs [--ref <git ref>]  (--ref: src/ of a commit, as the bench).
 * The server is started exactly as the bench does (bench/lib/servers.mjs), on its own temp state.
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import WebSocket from "ws";
import * as Y from "yjs";
import { newSecret, startEdge } from "../bench/lib/servers.mjs";

const { values: args } = parseArgs({ options: { ref: { type: "string" } } });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const secret = newSecret(); // random per run: tokens signed here are worthless elsewhere
const sign = (sub, scope) =>
  new SignJWT({ email: `${sub}@attack.test`, scope })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(secret));

/** One y-websocket message: varuint type, then the body the caller writes. */
const frame = (type, write) => {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, type);
  write?.(e);
  return encoding.toUint8Array(e);
};
const syncFrame = (subtype, payload) =>
  frame(0, (e) => {
    encoding.writeVarUint(e, subtype);
    encoding.writeVarUint8Array(e, payload);
  });
/** Awareness message (type 1) of one entry, encoded as y-protocols does (no import from src/: it is TypeScript). */
const awarenessFrame = (clientID, clock, json) =>
  frame(1, (e) => {
    const inner = encoding.createEncoder();
    encoding.writeVarUint(inner, 1);
    encoding.writeVarUint(inner, clientID);
    encoding.writeVarUint(inner, clock);
    encoding.writeVarString(inner, json);
    encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  });

/** A binary y-websocket client that records what it receives and how it was closed; every wait is bounded. */
function connect(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 20_000 });
  ws.binaryType = "arraybuffer";
  const c = { ws, bytes: 0, messages: [], closed: null };
  ws.on("error", () => {}); // the close event carries what we report
  ws.on("message", (data) => {
    c.bytes += data.byteLength;
    c.messages.push(new Uint8Array(data));
  });
  c.closedPromise = new Promise((resolve) =>
    ws.once("close", (code, reason) => {
      c.closed = { code, reason: reason.toString() };
      resolve(c.closed);
    }),
  );
  c.opened = Promise.race([
    new Promise((resolve) => ws.once("open", resolve)),
    c.closedPromise.then((x) => Promise.reject(new Error(`closed before open: ${x.code} ${x.reason}`))),
  ]);
  c.close = async () => {
    ws.close(1000);
    await Promise.race([c.closedPromise, sleep(3_000)]);
    if (c.closed === null) ws.terminate();
  };
  return c;
}
/** Resolves true once `test()` holds, false after `ms`. */
async function until(test, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (test()) return true;
  return test();
}
const mib = (kib) => (kib / 1024).toFixed(1);
const tally = (codes) => Object.entries(Object.groupBy(codes, String)).map(([k, v]) => `${v.length}× ${k}`);

const edge = await startEdge({ secret, ref: args.ref ?? null });
// Stop the server (its whole process group, and its temp dir) whatever happens.
process.once("SIGINT", () => edge.stop().finally(() => process.exit(130)));
const rows = [];
let peakKiB = 0;
const rss = () => edge.sample().rssByRole.runtime ?? 0;
// The peak of each phase: the runtime's RSS every 200 ms (a sample reads /proc only).
const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, rss())), 200);
const record = (phase, served, closes) => {
  const now = rss();
  rows.push({ phase, now, peak: Math.max(peakKiB, now), served, closes });
  peakKiB = now;
};
try {
  const ws = edge.wsUrl;
  const editor = await sign("attacker", "edit");
  const viewer = await sign("viewer", "");
  await sleep(2_000); // let the runtime settle after start-up before the baseline
  record("before", "-", "-");

  // --- Attack A: pending updates --------------------------------------------------------------
  const closesA = [];
  const deniedA = [];
  for (let i = 0; i < 30; i++) {
    const c = connect(`${ws}/v1/yjs/fund/fund_attack?token=${editor}`);
    await c.opened;
    const doc = new Y.Doc(); // fresh doc: a new client id each time
    const data = doc.getMap("data");
    data.set("first", "short");
    const svBefore = Y.encodeStateVector(doc);
    data.set("orphan", "x".repeat(200_000));
    // Only the second update: its struct starts at clock 1 of a client whose clock 0 was never sent.
    c.ws.send(syncFrame(2, Y.encodeStateAsUpdate(doc, svBefore)));
    await Promise.race([c.closedPromise, sleep(10_000)]);
    closesA.push(c.closed ? `${c.closed.code} "${c.closed.reason}"` : "no close in 10 s");
    // The permission-denied auth message (type 2) that should precede the close.
    const auth = c.messages.find((m) => m[0] === 2);
    if (auth) deniedA.push(decoding.readVarString(Object.assign(decoding.createDecoder(auth), { pos: 2 })));
    if (!c.closed) await c.close();
    doc.destroy();
  }
  // A newcomer syncs from nothing: what a pending update would cost every client.
  const n = connect(`${ws}/v1/yjs/fund/fund_attack?token=${viewer}`);
  await n.opened;
  n.ws.send(syncFrame(0, Y.encodeStateVector(new Y.Doc())));
  const isStep2 = (m) => m[0] === 0 && m[1] === 1;
  await until(() => n.messages.some(isStep2), 10_000);
  const step2 = n.messages.find(isStep2);
  if (step2) {
    // Apply its payload (after the one-byte type and subtype) to see what the document holds.
    const got = new Y.Doc();
    Y.applyUpdate(got, decoding.readVarUint8Array(Object.assign(decoding.createDecoder(step2), { pos: 2 })));
    console.log(
      `A: newcomer's data keys ${JSON.stringify([...got.getMap("data").keys()])}, pending: ${!!got.store.pendingStructs}`,
    );
  }
  await n.close();
  const resource = await fetch(`${edge.url}/v1/resources/fund/fund_attack`, {
    headers: { authorization: `Bearer ${editor}` },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await resource.text();
  record("after A (pending updates)", step2 ? `step2 ${step2.byteLength} B` : "no step 2 in 10 s", tally(closesA));
  console.log(`A: auth messages: ${deniedA.length}/30, e.g. ${JSON.stringify(deniedA[0] ?? null)}`);
  console.log(`A: GET /v1/resources → ${resource.status}, ${Buffer.byteLength(body)} B: ${body.slice(0, 200)}`);

  // --- Attack B: presence flood ---------------------------------------------------------------
  const STATE_BYTES = 300_000;
  const bigState = (i) => {
    const head = JSON.stringify({ user: { name: `flood ${i}` }, pad: "" });
    return `${head.slice(0, -2)}${"p".repeat(STATE_BYTES - head.length)}"}`; // exactly STATE_BYTES of JSON
  };
  // A control: one small, valid state, so that a newcomer's presence shows that presence works at all.
  const control = connect(`${ws}/v1/yjs/fund/fund_presence?token=${await sign("control", "")}`);
  await control.opened;
  control.ws.send(awarenessFrame(1, 1, JSON.stringify({ user: { name: "control" } })));
  // One user per connection: one user gets at most 8 connections to a document (close 4429).
  const floodTokens = await Promise.all(Array.from({ length: 50 }, (_, i) => sign(`flood-${i}`, "")));
  const flood = floodTokens.map((token) => connect(`${ws}/v1/yjs/fund/fund_presence?token=${token}`));
  await Promise.all(flood.map((c) => c.opened));
  let clientID = 1_000;
  for (const c of flood) {
    for (let k = 0; k < 8; k++) c.ws.send(awarenessFrame(clientID++, 1, bigState(k)));
    for (let q = 0; q < 200; q++) c.ws.send(frame(3));
  }
  // Wait until everything is written out and the server has gone quiet (no byte for 1 s), 30 s at most.
  await until(() => flood.every((c) => c.ws.bufferedAmount === 0), 30_000);
  const received = () => flood.reduce((s, c) => s + c.bytes, 0);
  for (let t = 0, last = -1; t < 30 && received() !== last; t++, await sleep(1_000)) last = received();
  const floodBytes = received();
  const joiner = connect(`${ws}/v1/yjs/fund/fund_presence?token=${await sign("newcomer", "")}`);
  await joiner.opened;
  await sleep(2_000); // the server sends presence right after the upgrade, if it holds any
  const presenceBytes = joiner.messages.filter((m) => m[0] === 1).reduce((s, m) => s + m.byteLength, 0);
  const closesB = flood.filter((c) => c.closed).map((c) => `${c.closed.code} "${c.closed.reason}"`);
  record("after B (presence flood), 50 still open", `presence ${presenceBytes} B`, tally(closesB));
  console.log(
    `B: ${flood.length} flood connections received ${floodBytes} B in all; joiner got ${joiner.bytes} B, closed: ${JSON.stringify(joiner.closed)}`,
  );
  await Promise.all([...flood, joiner, control].map((c) => c.close()));

  await sleep(5_000);
  record("after 5 s idle, all closed", "-", "-");
} finally {
  clearInterval(sampler);
  await edge.stop();
}
console.log(`\n| phase | runtime workerd RSS MiB (peak in phase) | bytes served to newcomer | closes seen |`);
console.log(`| --- | --- | --- | --- |`);
for (const r of rows)
  console.log(
    `| ${r.phase} | ${mib(r.now)} (${mib(r.peak)}) | ${r.served} | ${[r.closes].flat().join(", ") || "none"} |`,
  );
