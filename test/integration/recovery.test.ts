import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hubPlacement } from "../../src/hub/shard";
import { TOPIC_HISTORY_LIMIT } from "../../src/protocol/limits";
import { connect, ingestOk, progress, unique } from "../helpers/client";
import { failCalls } from "../helpers/replace-method";
import { signToken } from "../helpers/tokens";

const SHARDS = 4;
const hubOf = (sub: string) => hubPlacement(sub, undefined, SHARDS).name;

/** Two users whose sockets land on different hubs. */
function usersOnDifferentHubs(): [string, string] {
  const first = unique("user");
  for (let i = 0; i < 100; i++) {
    const second = unique("user");
    if (hubOf(second) !== hubOf(first)) return [first, second];
  }
  throw new Error("no second hub found");
}

describe("ordering, recovery and eviction", () => {
  it("two sockets on different hubs both receive every event, in order", async () => {
    const [alice, bob] = usersOnDifferentHubs();
    const sim = unique("simulation");
    const a = await connect(await signToken({ sub: alice }));
    const b = await connect(await signToken({ sub: bob }));
    for (const socket of [a, b])
      await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const count = 60;
    for (let batch = 0; batch < 3; batch++) {
      await ingestOk(Array.from({ length: count / 3 }, (_, i) => progress(sim, batch * 20 + i)));
    }
    for (const socket of [a, b]) {
      const seqs: number[] = [];
      for (let i = 0; i < count; i++) seqs.push((await socket.nextEvent("simulation_progress")).seq as number);
      expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      socket.close();
    }
    const topic = await env.TOPIC.getByName(`simulation_updates:${sim}`).describe();
    expect(Object.keys(topic.hubs).sort()).toEqual([hubOf(alice), hubOf(bob)].sort());
  });

  it("registers a hub once per topic however many of its sockets subscribe, and releases it after the last", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const topicStub = env.TOPIC.getByName(`simulation_updates:${sim}`);
    const sockets = await Promise.all([1, 2, 3].map(async () => connect(await signToken({ sub: user }))));
    for (const socket of sockets)
      await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    expect(Object.keys((await topicStub.describe()).hubs)).toEqual([hubOf(user)]);
    sockets[0]?.close();
    await sockets[1]?.request("unsubscribe", { channel: "simulation_updates", simulation_id: sim });
    await ingestOk(progress(sim, 1));
    expect(await sockets[2]?.nextEvent("simulation_progress")).toMatchObject({ seq: 1 });
    expect(Object.keys((await topicStub.describe()).hubs)).toEqual([hubOf(user)]);
    await sockets[2]?.request("unsubscribe", { channel: "simulation_updates", simulation_id: sim });
    await expect.poll(async () => Object.keys((await topicStub.describe()).hubs), { timeout: 3000 }).toEqual([]);
    for (const socket of sockets) socket?.close();
  });

  it("since_seq replays what was missed, in order, instead of the latest state", async () => {
    const sim = unique("simulation");
    await ingestOk(Array.from({ length: 5 }, (_, i) => progress(sim, i)));
    const socket = await connect(await signToken());
    const reply = await socket.request(
      "subscribe",
      { channel: "simulation_updates", simulation_id: sim, since_seq: 2 },
      "r",
    );
    expect(reply.data).toMatchObject({ seq: 5, recovered: true });
    const replayed = [await socket.next(), await socket.next(), await socket.next()];
    expect(replayed.map((frame) => frame.seq)).toEqual([3, 4, 5]);
    await ingestOk(progress(sim, 99));
    expect(await socket.next()).toMatchObject({ seq: 6, data: { progress: 99 } });
    socket.close();
  });

  it("since_seq equal to the latest recovers with nothing to replay", async () => {
    const sim = unique("simulation");
    await ingestOk([progress(sim, 1), progress(sim, 2)]);
    const socket = await connect(await signToken());
    const reply = await socket.request("subscribe", {
      channel: "simulation_updates",
      simulation_id: sim,
      since_seq: 2,
    });
    expect(reply.data).toMatchObject({ seq: 2, recovered: true });
    expect(await socket.quiet(150)).toEqual([]);
    socket.close();
  });

  it(`since_seq older than the last ${TOPIC_HISTORY_LIMIT} events: recovered false and the latest state`, async () => {
    const sim = unique("simulation");
    const total = TOPIC_HISTORY_LIMIT + 50;
    for (let start = 0; start < total; start += 100) {
      await ingestOk(Array.from({ length: Math.min(100, total - start) }, (_, i) => progress(sim, (start + i) % 101)));
    }
    const socket = await connect(await signToken());
    const lost = await socket.request("subscribe", {
      channel: "simulation_updates",
      simulation_id: sim,
      since_seq: 10,
    });
    expect(lost.data).toMatchObject({ seq: total, recovered: false });
    expect(await socket.next()).toMatchObject({ event: "simulation_progress", seq: total });
    // The oldest still held is exactly total - LIMIT + 1.
    const kept = await connect(await signToken());
    const edge = total - TOPIC_HISTORY_LIMIT;
    const ok = await kept.request("subscribe", { channel: "simulation_updates", simulation_id: sim, since_seq: edge });
    expect(ok.data).toMatchObject({ recovered: true });
    expect((await kept.next()).seq).toBe(edge + 1);
    socket.close();
    kept.close();
  });

  it("a since_seq ahead of the topic is not recovered", async () => {
    const sim = unique("simulation");
    await ingestOk(progress(sim, 1));
    const socket = await connect(await signToken());
    const reply = await socket.request("subscribe", {
      channel: "simulation_updates",
      simulation_id: sim,
      since_seq: 50,
    });
    expect(reply.data).toMatchObject({ seq: 1, recovered: false });
    socket.close();
  });

  it("an evicted hub keeps delivering to its hibernated sockets", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await connect(await signToken({ sub: user }));
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    await ingestOk(progress(sim, 1));
    expect(await socket.next()).toMatchObject({ seq: 1 });
    const hub = env.HUB.getByName(hubOf(user));
    await evictDurableObject(hub);
    await ingestOk(progress(sim, 2));
    expect(await socket.next()).toMatchObject({ seq: 2, data: { progress: 2 } });
    // The woken hub still knows the socket's principal and subscriptions.
    expect((await socket.request("ping", {})).event).toBe("pong");
    await socket.request("unsubscribe", { channel: "simulation_updates", simulation_id: sim });
    await ingestOk(progress(sim, 3));
    expect(await socket.quiet(200)).toEqual([]);
    socket.close();
  });

  it("an evicted hub restores many subscriptions (too many for the socket's attachment) from storage", async () => {
    const user = unique("user");
    const sims = Array.from({ length: 40 }, () => unique("simulation_with_a_long_identifier"));
    const socket = await connect(await signToken({ sub: user }));
    for (const sim of sims) await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    await evictDurableObject(env.HUB.getByName(hubOf(user)));
    for (const sim of [sims[0], sims[39]] as string[]) {
      await ingestOk(progress(sim, 5));
      expect(await socket.nextEvent("simulation_progress")).toMatchObject({ data: { simulation_id: sim } });
    }
    // Back under the attachment's size, and evicted again: still every subscription that is left.
    for (const sim of sims.slice(1, 39)) {
      await socket.request("unsubscribe", { channel: "simulation_updates", simulation_id: sim });
    }
    await evictDurableObject(env.HUB.getByName(hubOf(user)));
    await ingestOk(progress(sims[39] as string, 6));
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 2 });
    await ingestOk(progress(sims[5] as string, 6));
    expect(await socket.quiet(150)).toEqual([]);
    socket.close();
  });

  it("an evicted topic keeps its seq, history and hubs", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    await ingestOk([progress(sim, 1), { ...progress(sim, 2), id: "dup" }]);
    await socket.next();
    await socket.next();
    await evictDurableObject(env.TOPIC.getByName(`simulation_updates:${sim}`));
    const { results } = await ingestOk([{ ...progress(sim, 2), id: "dup" }, progress(sim, 3)]);
    expect(results.map((result) => result.seq)).toEqual([2, 3]);
    expect(results[0]?.duplicate).toBe(true);
    expect(await socket.next()).toMatchObject({ seq: 3 });
    const late = await connect(await signToken());
    await late.request("subscribe", { channel: "simulation_updates", simulation_id: sim, since_seq: 0 });
    expect([await late.next(), await late.next(), await late.next()].map((frame) => frame.seq)).toEqual([1, 2, 3]);
    socket.close();
    late.close();
  });

  it("a closed socket's hub is released by the topic", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await connect(await signToken({ sub: user }));
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    socket.close();
    const topicStub = env.TOPIC.getByName(`simulation_updates:${sim}`);
    await expect.poll(async () => Object.keys((await topicStub.describe()).hubs), { timeout: 3000 }).toEqual([]);
  });

  it("retries a failing hub from the alarm without losing order", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await connect(await signToken({ sub: user }));
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const topicStub = env.TOPIC.getByName(`simulation_updates:${sim}`);
    // Every hub of this test file's isolate fails deliveries while `fail` is set.
    let restore: (() => void) | null = null;
    const failingHubs = async (fail: boolean) => {
      if (fail) restore = failCalls(env.HUB, "deliver", "hub unavailable (test)");
      else restore?.();
    };

    // A transient failure: events wait in the topic and arrive in order once the hub answers.
    await failingHubs(true);
    await ingestOk([progress(sim, 1), progress(sim, 2)]);
    await expect.poll(async () => (await topicStub.describe()).hubs[hubOf(user)]?.failures, { timeout: 3000 }).toBe(1);
    expect(await socket.quiet(100)).toEqual([]);
    await failingHubs(false);
    await runDurableObjectAlarm(topicStub);
    expect([await socket.next(), await socket.next()].map((frame) => frame.seq)).toEqual([1, 2]);
    expect((await topicStub.describe()).hubs[hubOf(user)]).toMatchObject({ delivered: 2, failures: 0 });
    socket.close();
    // A hub that keeps failing is kept, and what its sockets see then: delivery.test.ts.
  });

  it("a hub registered at a topic but without subscribers is dropped on the next delivery", async () => {
    const sim = unique("simulation");
    const topic = `simulation_updates:${sim}`;
    const topicStub = env.TOPIC.getByName(topic);
    const ghost = `hub:local:ghost_${unique("h")}`;
    // A hub that has never had a socket: it must refuse the stream rather than absorb it.
    await runInDurableObject(env.HUB.getByName(ghost), () => undefined);
    await topicStub.attach(topic, ghost, null);
    expect(Object.keys((await topicStub.describe()).hubs)).toEqual([ghost]);
    await ingestOk(progress(sim, 1));
    await expect.poll(async () => Object.keys((await topicStub.describe()).hubs), { timeout: 3000 }).toEqual([]);
  });
});
