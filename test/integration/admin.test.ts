/**
 * `GET /v1/admin/stats` (src/routes/admin.ts, src/ops/stats.ts): refused without a token (401)
 * and without the `admin` scope (403); with it, real figures read from the Durable Objects:
 * sockets and Socket.IO sessions on the hubs, the topics they hold with their subscribers, seq
 * and each hub's delivery lag. Other test files may share the hubs, so counts of the whole
 * region are checked as lower bounds, the test's own topics exactly.
 */
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { Stats } from "../../src/ops/stats";
import { connect, ingestOk, progress, type TestSocket, unique } from "../helpers/client";
import { WebSocketSocket } from "../helpers/engine-io-client";
import { signToken } from "../helpers/tokens";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const socket of open.splice(0)) await socket.close();
});

function stats(token: string | null, query = ""): Promise<Response> {
  return exports.default.fetch(`http://edge.test/v1/admin/stats${query}`, {
    headers: token === null ? {} : { Authorization: `Bearer ${token}` },
  });
}

async function statsOk(query = ""): Promise<Stats> {
  const response = await stats(await signToken({ sub: "ops", scope: "admin" }), query);
  expect(response.status).toBe(200);
  return response.json();
}

async function subscribed(user: string, sim: string): Promise<TestSocket> {
  const socket = await connect(await signToken({ sub: user }));
  open.push(socket);
  const reply = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
  expect(reply.event).toBe("subscribed");
  return socket;
}

describe("GET /v1/admin/stats", () => {
  it("is 401 without a token and with a bad one", async () => {
    const none = await stats(null);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({
      error: { code: "authentication_error", details: { reason: "token_missing" } },
    });
    expect((await stats("not-a-jwt")).status).toBe(401);
  });

  it("is 403 for a token without the admin scope, whatever else it has", async () => {
    const response = await stats(await signToken({ sub: "engine", scope: "edit publish" }));
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: { code: "authorization_error", message: "The token lacks the admin scope", details: { scope: "admin" } },
    });
  });

  it("refuses a bad query with 400, not a guess", async () => {
    const token = await signToken({ sub: "ops", scope: "admin" });
    for (const query of [
      "?region=mars",
      "?from=4",
      "?from=-1",
      "?count=0",
      "?count=101",
      "?topics=1e3",
      "?topics=201",
    ]) {
      const response = await stats(token, query);
      expect(response.status, query).toBe(400);
      expect(await response.json(), query).toMatchObject({ error: { code: "invalid_message" } });
    }
  });

  it("counts open sockets, Socket.IO sessions, the topics held and their delivery lag", async () => {
    const sim = unique("sim_admin");
    const topic = `simulation_updates:${sim}`;
    const [a, b] = [await subscribed("admin-user-a", sim), await subscribed("admin-user-b", sim)];
    const sio = await WebSocketSocket.open();
    open.push(sio);
    await sio.login("admin-sio-user", await signToken({ sub: "admin-sio-user" }));

    const { results } = await ingestOk([progress(sim, 10), progress(sim, 20)]);
    expect(results.map((r) => r.seq)).toEqual([1, 2]);
    for (const socket of [a, b]) {
      await socket.next((f) => f.event === "simulation_progress" && f.seq === 2);
    }

    const body = await statsOk();
    expect(body.region).toBe("local");
    // HUB_SHARDS is 4 in the Workers tests: 4 JSON hubs and 4 Socket.IO hubs asked.
    expect(body.shards).toEqual({ configured: 4, from: 0, count: 4, next_from: null });
    expect(body.hubs.map((hub) => hub.name).sort()).toEqual(
      [0, 1, 2, 3].flatMap((shard) => [`hub:local:${shard}`, `sio:local:${shard}`]).sort(),
    );
    expect(body.hubs.every((hub) => hub.error === undefined)).toBe(true);
    expect(body.totals.sockets).toBeGreaterThanOrEqual(3);
    expect(body.totals.sessions).toBeGreaterThanOrEqual(1);
    const sioHub = body.hubs.find((hub) => hub.name === `sio:local:${sio.sid.split(".")[1]}`);
    expect(sioHub?.sessions).toBeGreaterThanOrEqual(1);

    // The topic: both subscribers, seq 2, and every hub holding it has acknowledged seq 2 (the
    // topic records an acknowledgement when the delivery's reply is back: poll for it).
    await expect
      .poll(
        async () => {
          const row = (await statsOk()).topics.find((t) => t.name === topic);
          return (
            row && {
              subscribers: row.subscribers,
              seq: row.seq,
              max_lag: row.max_lag,
              lags: row.hubs.map((h) => h.lag),
            }
          );
        },
        { timeout: 5000 },
      )
      .toMatchObject({ subscribers: 2, seq: 2, max_lag: 0 });
    const row = (await statsOk()).topics.find((t) => t.name === topic);
    expect(row?.hubs.length).toBeGreaterThanOrEqual(1);
    for (const hub of row?.hubs ?? []) {
      expect(hub).toMatchObject({ delivered: 2, lag: 0, failures: 0 });
      expect(hub.hub).toMatch(/^hub:local:\d$/);
    }

    // One socket leaves: the topic shows one subscriber.
    a.close();
    await expect
      .poll(async () => (await statsOk()).topics.find((t) => t.name === topic)?.subscribers, { timeout: 5000 })
      .toBe(1);
  });

  it("describes at most `topics` topics and says how many it left out", async () => {
    const sims = [unique("sim_cap"), unique("sim_cap")];
    const socket = await subscribed("admin-cap-user", sims[0] as string);
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sims[1] });
    const none = await statsOk("?topics=0");
    expect(none.topics).toEqual([]);
    expect(none.topics_not_shown).toBeGreaterThanOrEqual(2);
    const one = await statsOk("?topics=1");
    expect(one.topics).toHaveLength(1);
    expect(one.topics_not_shown).toBeGreaterThanOrEqual(1);
  });
});
