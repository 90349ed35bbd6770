/**
 * The reply schemas (src/protocol/equihome/replies.ts) against the wire: every frame the hub
 * sends over a real socket here (replies, unsolicited notices, errors, channel events) parses
 * with the schema of its event, and every reply event is seen at least once. The hub's encoders
 * are typed by these schemas; this keeps the schemas from drifting from what is really sent.
 */
import { env } from "cloudflare:workers";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { hubPlacement } from "../../src/hub/shard";
import { DeliveredResourceUpdated, REPLIES, type ReplyEvent } from "../../src/protocol/equihome/replies";
import { ResourceUpdated } from "../../src/protocol/equihome/server-events";
import { INGEST_EVENTS } from "../../src/protocol/ingest";
import { connect, type Frame, ingestOk, progress, type TestSocket, unique } from "../helpers/client";
import { editorToken, signToken } from "../helpers/tokens";
import { connectYjs } from "../helpers/yjs-client";

const isReply = (event: string): event is ReplyEvent => Object.hasOwn(REPLIES, event);

/** The schema of a frame's data: its reply's, or as a channel event the server delivers. */
function schemaOf(frame: Frame): v.GenericSchema | undefined {
  if (isReply(frame.event)) return REPLIES[frame.event];
  if (frame.event === "resource_updated") return DeliveredResourceUpdated;
  return Object.hasOwn(INGEST_EVENTS, frame.event)
    ? INGEST_EVENTS[frame.event as keyof typeof INGEST_EVENTS].schema
    : undefined;
}

/** The events whose frames parsed, and how: `deleted` for a deletion's resource_updated. */
const seen = new Set<string>();

/** Every frame `socket` received parses with its event's schema. */
function expectWireMatchesSchemas(...sockets: TestSocket[]): void {
  for (const socket of sockets) {
    for (const frame of socket.frames) {
      const schema = schemaOf(frame);
      expect(schema, `no schema for ${JSON.stringify(frame)}`).toBeDefined();
      if (!schema) continue;
      const parsed = v.safeParse(schema, frame.data);
      expect(parsed.success ? [] : parsed.issues.map((issue) => issue.message), JSON.stringify(frame)).toEqual([]);
      seen.add(frame.event);
      if (frame.event === "resource_updated" && frame.data.deleted === true) seen.add("resource_updated (deleted)");
    }
  }
}

const fundRef = (fund: string) => ({ resource_type: "fund", resource_id: fund });

describe("the hub's replies parse with the schemas it is typed by", () => {
  it("subscribe, unsubscribe and ping, on keyed and unkeyed channels, with zones and since_seq", async () => {
    const sim = unique("simulation");
    await ingestOk([progress(sim, 1), progress(sim, 2)]);
    const socket = await connect(await signToken());
    for (const [data, extra] of [
      [{ channel: "simulation_updates", simulation_id: sim }, {}],
      [{ channel: "gp_entity_updates", simulation_id: sim }, { since_seq: 0 }],
      [{ channel: "portfolio_updates", portfolio_id: unique("portfolio") }, {}],
      [{ channel: "fund_updates", fund_id: unique("fund") }, { since_seq: 0 }],
      [{ channel: "system_notifications" }, {}],
      [{ channel: "traffic_light_updates" }, { zones: ["red", "green"], since_seq: 0 }],
    ] as const) {
      const subscribed = await socket.request("subscribe", { ...data, ...extra });
      expect(subscribed.event, JSON.stringify(subscribed)).toBe("subscribed");
      const unsubscribed = await socket.request("unsubscribe", data);
      expect(unsubscribed).toMatchObject({ event: "unsubscribed", data });
    }
    expect((await socket.request("ping", {})).event).toBe("pong");
    await socket.quiet(50);
    socket.close();
    expect(socket.frames.map((frame) => frame.event)).toContain("simulation_progress");
    expectWireMatchesSchemas(socket);
  });

  it("an unsolicited resync `subscribed`, with and without zones", async () => {
    const user = unique("user");
    const sim = unique("simulation");
    const socket = await connect(await signToken({ sub: user }));
    const keyed = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const lights = await socket.request("subscribe", { channel: "traffic_light_updates", zones: ["green"] });
    const hub = env.HUB.getByName(hubPlacement(user, undefined, 4).name);
    for (const [topic, reply] of [
      [`simulation_updates:${sim}`, keyed],
      ["traffic_light_updates", lights],
    ] as const) {
      const after = reply.data.seq as number;
      expect(await hub.deliver(topic, { kind: "resync", after, seq: after + 2, latest: null })).toEqual({
        status: "ok",
      });
      const resync = await socket.nextEvent("subscribed");
      expect(resync.id).toBeUndefined();
      expect(resync.data).toMatchObject({ seq: after + 2, recovered: false });
    }
    socket.close();
    expect(socket.frames.at(-1)?.data.zones).toEqual(["green"]);
    expectWireMatchesSchemas(socket);
  });

  it("editing: editing_started, editors_updated, an edit, its repeat, a Yjs deletion, editing_ended", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    const bob = await connect(await editorToken("bob"));
    expect((await alice.request("start_editing", fundRef(fund))).event).toBe("editing_started");
    expect((await bob.request("start_editing", fundRef(fund))).event).toBe("editing_started");
    await alice.nextEvent("editors_updated");

    const edit = { ...fundRef(fund), path: "fee_structure.management_fee_rate", value: 0.02 };
    const ack = await alice.request("update_resource", edit, "edit-1");
    expect(ack).toMatchObject({ event: "resource_updated", id: "edit-1" });
    // The repeat of a delivered edit is acknowledged by the hub itself (encodeEditAck).
    const repeat = await alice.request("update_resource", edit, "edit-1");
    expect(repeat).toMatchObject({ event: "resource_updated", id: "edit-1", seq: ack.seq });

    const yjs = await connectYjs(`fund/${fund}`, await editorToken("yuki"));
    await yjs.until(() => yjs.synced && yjs.data.fee_structure !== undefined, "sync");
    yjs.doc.transact(() =>
      (yjs.doc.getMap("data").get("fee_structure") as Y.Map<unknown>).delete("management_fee_rate"),
    );
    const deletion = await bob.next((frame) => frame.event === "resource_updated" && frame.data.deleted === true);
    // What the server delivers is wider than what a publisher may post: ingest still refuses it.
    expect(v.safeParse(DeliveredResourceUpdated, deletion.data).success).toBe(true);
    expect(v.safeParse(ResourceUpdated, deletion.data).success).toBe(false);
    yjs.close();

    expect((await bob.request("end_editing", fundRef(fund))).event).toBe("editing_ended");
    await alice.nextEvent("editors_updated");
    alice.close();
    bob.close();
    expectWireMatchesSchemas(alice, bob);
  });

  it("refresh_token: token_refreshed, then the unsolicited ends of what a narrower token no longer reaches", async () => {
    const fund = unique("fund");
    const socket = await connect(await editorToken("narrow", { resources: ["fund:*"] }));
    await socket.request("subscribe", { channel: "fund_updates", fund_id: fund });
    await socket.request("start_editing", fundRef(fund));
    const narrower = await editorToken("narrow", { resources: ["fund:other"] });
    expect((await socket.request("refresh_token", { token: narrower })).event).toBe("token_refreshed");
    const ended = await socket.nextEvent("editing_ended");
    expect(ended.data).toEqual({ ...fundRef(fund), reason: "authorization_error" });
    const unsubscribed = await socket.nextEvent("unsubscribed");
    expect(unsubscribed.data).toEqual({ channel: "fund_updates", fund_id: fund, reason: "authorization_error" });
    socket.close();
    expectWireMatchesSchemas(socket);
  });

  it("errors of every kind the socket can provoke, and the refusal of a token at connect", async () => {
    const fund = unique("fund");
    const socket = await connect(await signToken({ sub: "limited", resources: ["simulation:mine"] }));
    const requests: [string, unknown][] = [
      ["subscribe", {}],
      ["subscribe", { channel: "nope" }],
      ["subscribe", { channel: "simulation_updates", simulation_id: "" }],
      ["subscribe", { channel: "simulation_updates", simulation_id: "mine", zones: ["red"] }],
      ["subscribe", { channel: "simulation_updates", simulation_id: "yours" }],
      ["launch_rockets", {}],
      ["refresh_token", {}],
      ["refresh_token", { token: "not.a.token" }],
      ["refresh_token", { token: await signToken({ sub: "someone_else" }) }],
      ["start_editing", { resource_type: "spaceship", resource_id: "x" }],
      ["start_editing", { resource_id: "x" }],
      ["start_editing", fundRef(fund)],
      ["update_resource", { ...fundRef(fund), path: "a", value: 1 }],
    ];
    for (const [event, data] of requests) {
      expect((await socket.request(event, data)).event, `${event} ${JSON.stringify(data)}`).toBe("error");
    }
    socket.ws.send("not json");
    socket.ws.send(new Uint8Array([1]));
    await socket.nextEvent("error");
    await socket.nextEvent("error");
    socket.close();

    const editorSocket = await connect(await editorToken("writer"));
    await editorSocket.request("start_editing", fundRef(fund));
    for (const path of ["A", "a.__proto__", Array.from({ length: 9 }, () => "a").join(".")]) {
      const refused = await editorSocket.request("update_resource", { ...fundRef(fund), path, value: 1 });
      expect(refused.data).toMatchObject({ code: "invalid_message", details: { issue: expect.any(String) } });
    }
    const noSession = await editorSocket.request("update_resource", {
      ...fundRef(unique("fund")),
      path: "a",
      value: 1,
    });
    expect(noSession.data).toMatchObject({ details: { issue: "editing_not_started" } });
    editorSocket.close();

    const refusedAtConnect = await connect(null);
    await refusedAtConnect.waitClosed();
    expect(refusedAtConnect.frames.map((frame) => frame.data.code)).toEqual(["authentication_error"]);
    expectWireMatchesSchemas(socket, editorSocket, refusedAtConnect);
  });

  it("every reply event, and a deletion's resource_updated, was seen on the wire", () => {
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([...Object.keys(REPLIES), "resource_updated", "resource_updated (deleted)"].sort()),
    );
  });
});
