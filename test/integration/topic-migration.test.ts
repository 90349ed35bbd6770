/**
 * A topic stored before the neutral event model (its history as pre-encoded JSON frames) keeps
 * serving that history after the deploy: the table is rewritten in place the first time the
 * topic starts, and every event goes on the wire exactly as it did.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeServerEvent, encodeTopicEvent } from "../../src/protocol/equihome/codec";
import { TopicStore } from "../../src/topic/topic-store";
import { connect, ingestOk, progress, unique } from "../helpers/client";
import { signToken } from "../helpers/tokens";

/** The events table and rows as the topic wrote them before the neutral event model. */
const OLD_EVENTS = "CREATE TABLE events (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, frame TEXT NOT NULL, ack TEXT)";

function oldFrames(sim: string): { frame: string; ack: string | null }[] {
  return [
    {
      frame: encodeServerEvent({
        event: "simulation_progress",
        data: { simulation_id: sim, progress: 10, status: "running", "2": 'é 😀 \u2028 " \\' },
        seq: 1,
      }),
      ack: null,
    },
    {
      frame: encodeServerEvent({
        event: "simulation_progress",
        data: { simulation_id: sim, progress: 20.5, status: "running" },
        id: "evt_2",
        seq: 2,
      }),
      ack: null,
    },
    {
      frame: encodeServerEvent({
        event: "simulation_progress",
        data: { simulation_id: sim, progress: 30, status: "running", ratio: 1e21 },
        seq: 3,
      }),
      ack: JSON.stringify({ socket: "socket_x", id: 42 }),
    },
  ];
}

/** Replaces a topic's new, empty table with the old schema and its rows. */
async function seedOldTopic(name: string, rows: { frame: string; ack: string | null }[]): Promise<void> {
  const stub = env.TOPIC.getByName(name);
  await runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    sql.exec("DROP TABLE events");
    sql.exec(OLD_EVENTS);
    for (const [index, { frame, ack }] of rows.entries()) {
      sql.exec(
        "INSERT INTO events (seq, event, frame, ack) VALUES (?, 'simulation_progress', ?, ?)",
        index + 1,
        frame,
        ack,
      );
    }
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)", rows.length);
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('name', ?)", name);
  });
  await evictDurableObject(stub);
}

describe("a topic's stored events", () => {
  it("keep each acknowledgement's message id with its type, and the publisher's id", async () => {
    const name = `fund_updates:${unique("fund")}`;
    await runInDurableObject(env.TOPIC.getByName(name), (_instance, state) => {
      const store = new TopicStore(state.storage);
      const acks = [0, 42, "msg_1", Number.MAX_SAFE_INTEGER];
      const events = acks.map((id, i) => ({
        event: "resource_updated",
        data: { path: `p${i}`, value: i },
        ack: { socket: `socket_${i}`, id },
      }));
      store.append([...events, { event: "resource_updated", data: { path: "q" }, id: "evt_9" }], Date.now(), -1);
      const stored = store.eventsAfter(0, 10);
      expect(stored.map((event) => event.ack?.id)).toEqual([...acks, undefined]);
      expect(stored.map((event) => event.ack?.socket)).toEqual([
        "socket_0",
        "socket_1",
        "socket_2",
        "socket_3",
        undefined,
      ]);
      expect(stored[4]).toEqual({ seq: 5, event: "resource_updated", data: '{"path":"q"}', id: "evt_9" });
      expect(store.latest()).toEqual({ seq: 5, event: "resource_updated", data: '{"path":"q"}', id: "evt_9" });
    });
  });
});

describe("a topic stored with JSON frames", () => {
  it("is rewritten to neutral events that encode to the same frames, acknowledgements kept", async () => {
    const sim = unique("simulation");
    const name = `simulation_updates:${sim}`;
    const rows = oldFrames(sim);
    await seedOldTopic(name, rows);
    const stub = env.TOPIC.getByName(name);
    await runInDurableObject(stub, (_instance, state) => {
      const store = new TopicStore(state.storage);
      const events = store.eventsAfter(0, 10);
      expect(events.map((event) => encodeTopicEvent(event))).toEqual(rows.map((row) => row.frame));
      expect(events[1]?.id).toBe("evt_2");
      expect(events[2]?.ack).toEqual({ socket: "socket_x", id: 42 });
      expect(events[0]?.ack).toBeUndefined();
      const columns = state.storage.sql
        .exec<{ name: string }>("PRAGMA table_info(events)")
        .toArray()
        .map((column) => column.name);
      expect(columns).not.toContain("frame");
      // A second start finds nothing left to migrate and reads the same.
      expect(new TopicStore(state.storage).eventsAfter(0, 10)).toEqual(events);
    });
  });

  it("serves its history after the deploy byte for byte, and carries on after it", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const rows = oldFrames(sim);
    await seedOldTopic(`simulation_updates:${sim}`, rows);
    const socket = await connect(await signToken({ sub: user }));
    const raw: string[] = [];
    socket.ws.addEventListener("message", (event) => {
      raw.push(event.data as string);
    });
    const reply = await socket.request("subscribe", {
      channel: "simulation_updates",
      simulation_id: sim,
      since_seq: 0,
    });
    expect(reply).toMatchObject({ event: "subscribed", data: { seq: 3, recovered: true } });
    for (let seq = 1; seq <= 3; seq++) expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq });
    expect(raw.filter((text) => text.includes('"event":"simulation_progress"'))).toEqual(rows.map((row) => row.frame));
    await ingestOk(progress(sim, 40));
    expect(await socket.nextEvent("simulation_progress")).toMatchObject({ seq: 4, data: { progress: 40 } });
    socket.close();
  });
});
