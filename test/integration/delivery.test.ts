/**
 * The delivery core, topic → hub → socket: every event a publisher was told is stored reaches
 * every subscriber that was there, in order, or the subscriber is told to resync first. Each
 * case here was a silent loss before the delivery core was rebuilt.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { hubPlacement } from "../../src/hub/shard";
import {
  DEDUPE_WINDOW_MS,
  DELIVERY_RETRY_MAX_MS,
  HUB_LEASE_MS,
  HUB_RENEW_MS,
  TOPIC_HISTORY_LIMIT,
  TOPIC_MAX_LAG_EVENTS,
} from "../../src/protocol/limits";
import type { Delivery } from "../../src/protocol/topics";
import { marketUpdate, orderUpdate } from "../fixtures/quantenergx-events";
import { connect, type Frame, ingestOk, progress, type TestSocket, unique } from "../helpers/client";
import { type EngineSocket, hubOfSid, WebSocketSocket } from "../helpers/engine-io-client";
import { expectLogs, literal } from "../helpers/expected-logs";
import { failCalls, replaceMethod } from "../helpers/replace-method";
import { signToken } from "../helpers/tokens";
import { connectYjs } from "../helpers/yjs-client";

const SHARDS = 4;
const hubOf = (sub: string) => hubPlacement(sub, undefined, SHARDS).name;

/** The next `count` frames of `event`, each within the wait's timeout. */
async function collect(socket: TestSocket, event: string, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) frames.push(await socket.nextEvent(event, 10_000));
  return frames;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Makes every hub of this isolate fail deliveries (or stop failing); `afterEach` also stops it. */
let restoreDeliver: (() => void) | null = null;
function hubsFail(fail: boolean): void {
  if (fail) {
    restoreDeliver ??= failCalls(env.HUB, "deliver", "hub unavailable (test)");
  } else {
    restoreDeliver?.();
    restoreDeliver = null;
  }
}

/** Runs a Durable Object's alarm as if `ms` had passed (Date is faked for the run). */
async function alarmAfter(stub: DurableObjectStub, ms: number): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    vi.setSystemTime(Date.now() + ms);
    await runDurableObjectAlarm(stub);
  } finally {
    vi.useRealTimers();
  }
}

const opened: EngineSocket[] = [];
const track = <S extends EngineSocket>(socket: S): S => {
  opened.push(socket);
  return socket;
};

/**
 * Runs a hub's alarm at a time its lease renewal is due. The hubs are shared by the tests and
 * remember when they last renewed (at a faked time), so each call goes further ahead.
 */
let renewals = 0;
async function renewalAlarm(hub: DurableObjectStub): Promise<void> {
  renewals += 1;
  await alarmAfter(hub, 2 * renewals * HUB_RENEW_MS + 1_000);
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((socket) => socket.close().catch(() => undefined)));
  restoreDeliver?.();
  restoreDeliver = null;
});

async function subscribed(user: string, sim: string): Promise<TestSocket> {
  const socket = await connect(await signToken({ sub: user }));
  await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
  return socket;
}

describe("a backlog larger than the history", () => {
  it("20 concurrent publishers of 100 events each: a live subscriber receives all 2,000, in order", async () => {
    const sim = unique("simulation");
    const socket = await subscribed(unique("user"), sim);
    const posts = range(0, 19).map((publisher) =>
      ingestOk(range(0, 99).map((i) => progress(sim, (publisher + i) % 101))),
    );
    const answers = await Promise.all(posts);
    const seqs = answers.flatMap((answer) => answer.results.map((result) => result.seq));
    expect(new Set(seqs).size).toBe(2000);
    const frames = await collect(socket, "simulation_progress", 2000);
    expect(frames.map((frame) => frame.seq)).toEqual(range(1, 2000));
    expect(await socket.quiet(100)).toEqual([]);
    socket.close();
  });

  it("one Yjs update changing 2,500 leaves reaches a live fund_updates subscriber whole", async () => {
    const fund = unique("fund");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "fund_updates", fund_id: fund });
    const yjs = await connectYjs(`fund/${fund}`, await signToken({ sub: "yuki", scope: "edit" }));
    await yjs.until(() => yjs.synced, "sync");
    yjs.doc.transact(() => {
      const cells = new Y.Map<unknown>();
      yjs.doc.getMap("data").set("cells", cells);
      for (let i = 0; i < 2500; i++) cells.set(`c${i}`, i);
    });
    const frames = await collect(socket, "resource_updated", 2500);
    expect(frames.map((frame) => frame.seq)).toEqual(range(1, 2500));
    expect(new Set(frames.map((frame) => frame.data.path)).size).toBe(2500);
    yjs.close();
    socket.close();
  });
});

describe("a failing hub", () => {
  it("keeps its registration past the old one-minute drop window and receives every event once it answers", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await subscribed(user, sim);
    const topic = env.TOPIC.getByName(`simulation_updates:${sim}`);
    hubsFail(true);
    await ingestOk(range(1, 5).map((i) => progress(sim, i)));
    // Far more retries than the 30 that used to drop a hub, over several minutes of failure.
    for (let attempt = 0; attempt < 40; attempt++) await alarmAfter(topic, attempt * 5_000);
    expect((await topic.describe()).hubs[hubOf(user)]).toMatchObject({ delivered: 0 });
    expect(await socket.quiet(50)).toEqual([]);
    hubsFail(false);
    await alarmAfter(topic, 40 * 5_000 + DELIVERY_RETRY_MAX_MS); // the next retry, still within the lease
    expect((await collect(socket, "simulation_progress", 5)).map((frame) => frame.seq)).toEqual(range(1, 5));
    await ingestOk(progress(sim, 6));
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 6 });
    socket.close();
  });

  it("forgotten by its topic after its lease ran out, it re-attaches from its alarm and loses nothing", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await subscribed(user, sim);
    const hub = env.HUB.getByName(hubOf(user));
    const topic = env.TOPIC.getByName(`simulation_updates:${sim}`);
    const logs = expectLogs(new RegExp(`^topic ${literal(`simulation_updates:${sim}`)}: `));
    await ingestOk(progress(sim, 1));
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 1 });
    hubsFail(true);
    await ingestOk([progress(sim, 2), progress(sim, 3)]);
    await alarmAfter(topic, HUB_LEASE_MS + 1_000);
    expect((await topic.describe()).hubs).toEqual({});
    hubsFail(false);
    await ingestOk(progress(sim, 4));
    expect(await socket.quiet(50)).toEqual([]);
    // The hub's own alarm renews its registrations; the topic no longer knows it, so it
    // re-attaches with the last seq it delivered and the topic replays from there.
    await renewalAlarm(hub);
    await expect.poll(async () => (await topic.describe()).hubs[hubOf(user)]?.delivered, { timeout: 3000 }).toBe(4);
    expect((await collect(socket, "simulation_progress", 3)).map((frame) => frame.seq)).toEqual([2, 3, 4]);
    // What the topic logs about it: forgetting the hub (with the delivery error), then its return.
    expect(logs.lines()).toEqual([
      expect.stringMatching(/: forgetting hub \S+, unreachable for \d+ ms Error: hub unavailable \(test\)$/),
      expect.stringMatching(/: hub \S+ re-attached at seq 1 \(topic at 4\)$/),
    ]);
    socket.close();
  });

  it("a hub whose topic forgot it re-attaches and gets the events it missed, in order", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const logs = expectLogs(new RegExp(`^topic ${literal(name)}: `));
    const socket = await subscribed(user, sim);
    await ingestOk(progress(sim, 1));
    await socket.nextEvent("simulation_progress");
    // The topic loses the registration (as a lost detach race or a dropped hub would).
    await env.TOPIC.getByName(name).detach(name, hubOf(user));
    await ingestOk([progress(sim, 2), progress(sim, 3)]);
    await renewalAlarm(env.HUB.getByName(hubOf(user)));
    expect((await collect(socket, "simulation_progress", 2)).map((frame) => frame.seq)).toEqual([2, 3]);
    expect(logs.lines()).toEqual([expect.stringMatching(/: hub \S+ re-attached at seq 1 \(topic at 3\)$/)]);
    socket.close();
  });

  it(`lagging more than ${TOPIC_MAX_LAG_EVENTS} events: its sockets are told to resync, then get the latest state`, async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await subscribed(user, sim);
    const topic = env.TOPIC.getByName(`simulation_updates:${sim}`);
    await ingestOk(progress(sim, 0));
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 1 });
    hubsFail(true);
    const total = TOPIC_MAX_LAG_EVENTS + 200;
    for (let start = 0; start < total; start += 100) {
      await ingestOk(range(1, 100).map((i) => progress(sim, i)));
    }
    hubsFail(false);
    await runDurableObjectAlarm(topic);
    const last = total + 1;
    // No gap without the resync frame before it: the unsolicited `subscribed`, then the state.
    const resync = await socket.next();
    expect(resync).toMatchObject({
      event: "subscribed",
      data: { channel: "simulation_updates", simulation_id: sim, seq: last, recovered: false },
    });
    expect(resync.id).toBeUndefined();
    expect(await socket.next()).toMatchObject({ event: "simulation_progress", seq: last });
    await ingestOk(progress(sim, 7));
    expect(await socket.next()).toMatchObject({ event: "simulation_progress", seq: last + 1 });
    // The history the contract promises is still there for since_seq.
    const late = await connect(await signToken());
    const reply = await late.request("subscribe", {
      channel: "simulation_updates",
      simulation_id: sim,
      since_seq: last + 1 - TOPIC_HISTORY_LIMIT,
    });
    expect(reply.data).toMatchObject({ recovered: true });
    late.close();
    socket.close();
  }, 120_000);
});

describe("restarts in the middle of delivery", () => {
  it("a topic evicted while delivering a backlog resumes it: every event once, in order", async () => {
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const socket = await subscribed(unique("user"), sim);
    await Promise.all(range(0, 14).map(() => ingestOk(range(1, 100).map((i) => progress(sim, i)))));
    await evictDurableObject(env.TOPIC.getByName(name));
    await runDurableObjectAlarm(env.TOPIC.getByName(name));
    const frames = await collect(socket, "simulation_progress", 1500);
    expect(frames.map((frame) => frame.seq)).toEqual(range(1, 1500));
    expect(await socket.quiet(200)).toEqual([]);
    socket.close();
  });

  it("a hub evicted while a topic delivers to it: every event once, in order", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await subscribed(user, sim);
    const publishing = Promise.all(range(0, 9).map(() => ingestOk(range(1, 100).map((i) => progress(sim, i)))));
    await evictDurableObject(env.HUB.getByName(hubOf(user)));
    await publishing;
    await runDurableObjectAlarm(env.TOPIC.getByName(`simulation_updates:${sim}`));
    const frames = await collect(socket, "simulation_progress", 1000);
    expect(frames.map((frame) => frame.seq)).toEqual(range(1, 1000));
    socket.close();
  });
});

describe("the dedupe window", () => {
  it("is pruned by the topic as it publishes, whoever is subscribed", async () => {
    const user = unique("user");
    const name = `orders:${user}`;
    const topic = env.TOPIC.getByName(name);
    const order = (id: string) => ({ ...orderUpdate(user, id), id });
    await ingestOk([order("o1"), order("o2")]);
    expect((await topic.describe()).dedupeIds).toBe(2);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + DEDUPE_WINDOW_MS + 1_000);
      await ingestOk(order("o3"));
    } finally {
      vi.useRealTimers();
    }
    expect((await topic.describe()).dedupeIds).toBe(1);
  });
});

describe("what the hub checks", () => {
  it("refuses a delivery that would skip past what it has, and skips one it already has", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const socket = await subscribed(user, sim);
    await ingestOk([progress(sim, 1), progress(sim, 2)]);
    await collect(socket, "simulation_progress", 2);
    const hub = env.HUB.getByName(hubOf(user));
    const event = (seq: number) => ({ seq, event: "simulation_progress", data: `{"seq":${seq}}` });
    expect(await hub.deliver(name, { kind: "events", after: 5, events: [event(6)] })).toEqual({
      status: "gap",
      have: 2,
    });
    expect(await hub.deliver(name, { kind: "events", after: 0, events: [event(1), event(2)] })).toEqual({
      status: "ok",
    });
    expect(await socket.quiet(100)).toEqual([]);
    socket.close();
  });

  // Found in review: a resync reached every live socket of the topic, also one that already had
  // the stream up to the resync's seq (answered by the topic while its hub lagged).
  it("a resync reaches only the sockets that are behind it", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const behind = await subscribed(user, sim);
    await ingestOk(progress(sim, 1));
    await behind.nextEvent("simulation_progress");
    const hub = env.HUB.getByName(hubOf(user));
    hubsFail(true);
    await ingestOk([progress(sim, 2), progress(sim, 3)]);
    const ahead = await connect(await signToken({ sub: user }));
    await ahead.request("subscribe", { channel: "simulation_updates", simulation_id: sim, since_seq: 0 });
    expect((await collect(ahead, "simulation_progress", 3)).map((frame) => frame.seq)).toEqual([1, 2, 3]);
    hubsFail(false);
    const latest = { seq: 3, event: "simulation_progress", data: "{}" };
    expect(await hub.deliver(name, { kind: "resync", after: 1, seq: 3, latest })).toEqual({ status: "ok" });
    expect(await behind.next()).toMatchObject({ event: "subscribed", data: { seq: 3, recovered: false } });
    expect(await ahead.quiet(150)).toEqual([]);
    behind.close();
    ahead.close();
  });

  // Found in review: a topic took a stale "detach" reply to a delivery as final even when the
  // hub had attached again while that delivery was under way, and forgot a hub with subscribers.
  it("a detach reply that crossed a new attach does not make the topic forget the hub", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const socket = await subscribed(user, sim);
    const hub = env.HUB.getByName(hubOf(user));
    const topic = env.TOPIC.getByName(name);
    let crossed = false;
    // Once: the hub had no subscriber when the delivery came, and one attached before it
    // answered. Afterwards the hub answers as it does.
    restoreDeliver = await replaceMethod(
      hub,
      "deliver",
      (original) =>
        async function (this: unknown, topicName: string, delivery: Delivery) {
          if (crossed) return original.call(this, topicName, delivery);
          crossed = true;
          await env.TOPIC.getByName(topicName).attach(topicName, hubOf(user), null);
          return { status: "detach" };
        },
    );
    await ingestOk(progress(sim, 1));
    // Kept, and the event reaches the subscriber.
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 1 });
    expect(crossed).toBe(true);
    expect(Object.keys((await topic.describe()).hubs)).toEqual([hubOf(user)]);
    socket.close();
  });

  // Found in review: a topic that re-registered a hub at an unknown position answers attach with
  // cursor -1; the hub took that as its position and answered the next subscriber "seq -1".
  it("a hub whose position the topic does not know yet never answers a subscriber with seq -1", async () => {
    const user = unique("user");
    const fund = unique("fund");
    const name = `fund_updates:${fund}`;
    const logs = expectLogs(new RegExp(`^topic ${literal(name)}: `));
    const first = await connect(await signToken({ sub: user }));
    await first.request("subscribe", { channel: "fund_updates", fund_id: fund });
    await ingestOk({
      event: "resource_updated",
      data: { resource_type: "fund", resource_id: fund, path: "a", value: 1, updated_by: "e" },
    });
    await first.nextEvent("resource_updated");
    const hub = env.HUB.getByName(hubOf(user));
    await evictDurableObject(hub);
    await env.TOPIC.getByName(name).detach(name, hubOf(user));
    hubsFail(true);
    await renewalAlarm(hub); // the topic registers it again at -1; its resync keeps failing
    for (const id of ["second", "third"]) {
      const socket = await connect(await signToken({ sub: user }));
      const reply = await socket.request("subscribe", { channel: "fund_updates", fund_id: fund }, id);
      expect(reply.data.seq, id).toBe(1);
      socket.close();
    }
    expect(logs.lines()).toEqual([expect.stringMatching(/: hub \S+ re-attached at seq -1 \(topic at 1\)$/)]);
    first.close();
  });

  it("a hub live on a topic answers a new subscriber itself, without asking the topic", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const first = await subscribed(user, sim);
    await ingestOk(progress(sim, 40));
    await first.nextEvent("simulation_progress");
    const topic = env.TOPIC.getByName(`simulation_updates:${sim}`);
    // Any further attach at this topic would fail: the second subscriber must not need one.
    await runInDurableObject(topic, (instance: object) => {
      Object.defineProperty(instance, "attach", {
        value: async () => {
          throw new Error("attach called (test)");
        },
        configurable: true,
      });
    });
    const second = await connect(await signToken({ sub: user }));
    const reply = await second.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    expect(reply).toMatchObject({ event: "subscribed", data: { seq: 1 } });
    expect(await second.next()).toMatchObject({ event: "simulation_progress", seq: 1, data: { progress: 40 } });
    await ingestOk(progress(sim, 41));
    for (const socket of [first, second]) {
      expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 2 });
      socket.close();
    }
    await evictDurableObject(topic);
  });

  it("a hub restarted and forgotten cannot know what its sockets have: JSON sockets are told to resync", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const logs = expectLogs(new RegExp(`^topic ${literal(name)}: `));
    const socket = await subscribed(user, sim);
    await ingestOk(progress(sim, 1));
    await socket.nextEvent("simulation_progress");
    const hub = env.HUB.getByName(hubOf(user));
    await evictDurableObject(hub);
    await env.TOPIC.getByName(name).detach(name, hubOf(user));
    await ingestOk([progress(sim, 2), progress(sim, 3)]);
    await renewalAlarm(hub);
    const resync = await socket.next();
    expect(resync).toMatchObject({ event: "subscribed", data: { simulation_id: sim, seq: 3, recovered: false } });
    expect(await socket.next()).toMatchObject({ event: "simulation_progress", seq: 3 });
    await ingestOk(progress(sim, 4));
    expect(await socket.next()).toMatchObject({ event: "simulation_progress", seq: 4 });
    expect(logs.lines()).toEqual([expect.stringMatching(/: hub \S+ re-attached at seq -1 \(topic at 3\)$/)]);
    socket.close();
  });

  it("the same for a Socket.IO session: `resync` names the room, then the room's latest state", async () => {
    const user = unique("user");
    const commodity = unique("oil");
    const name = `market:${commodity}`;
    const logs = expectLogs(new RegExp(`^topic ${literal(name)}: `));
    const socket = track(await WebSocketSocket.open());
    const { pid } = await socket.login(user, await signToken({ sub: user }));
    await socket.emit("subscribe-market", [commodity]);
    await socket.nextEvent("market-subscribed");
    await ingestOk(marketUpdate(commodity, 70));
    expect(await socket.nextEventData("market-update")).toMatchObject({ payload: { price: 70 } });
    const hub = hubOfSid(pid); // the recovery pid names the session's hub
    const hubName = (await hub.describe()).name as string;
    await evictDurableObject(hub);
    await env.TOPIC.getByName(name).detach(name, hubName);
    await ingestOk([marketUpdate(commodity, 71), marketUpdate(commodity, 72)]);
    await renewalAlarm(hub);
    expect(await socket.nextEventData("resync")).toEqual({ room: `market-${commodity}`, seq: 3, recovered: false });
    expect(await socket.nextEventData("market-update")).toMatchObject({ payload: { price: 72 } });
    expect(logs.lines()).toEqual([expect.stringMatching(/: hub \S+ re-attached at seq -1 \(topic at 3\)$/)]);
  });
});
