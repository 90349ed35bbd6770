import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { DOCUMENT_COMPACT_UPDATES, MAX_EDIT_VALUE_BYTES } from "../../src/protocol/limits";
import { connect, fundEdit, ingest, ingestOk, readDocument, startEditing, unique } from "../helpers/client";
import { editorToken, signToken } from "../helpers/tokens";
import { connectYjs } from "../helpers/yjs-client";

describe("collaborative editing over the JSON protocol", () => {
  it("start_editing returns the whole document and the editors; others get editors_updated", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    const started = await startEditing(alice, fund, "msg_125");
    expect(started).toEqual({
      event: "editing_started",
      data: {
        resource_type: "fund",
        resource_id: fund,
        document: {},
        editors: [{ user_id: "alice", email: "alice@example.com" }],
      },
      id: "msg_125",
    });
    const bob = await connect(await editorToken("bob"));
    const bobStarted = await startEditing(bob, fund);
    expect(bobStarted.data.editors).toEqual([
      { user_id: "alice", email: "alice@example.com" },
      { user_id: "bob", email: "bob@example.com" },
    ]);
    const notice = await alice.nextEvent("editors_updated");
    expect(notice.data).toEqual({ resource_type: "fund", resource_id: fund, editors: bobStarted.data.editors });
    const ended = await bob.request("end_editing", { resource_type: "fund", resource_id: fund }, "msg_127");
    expect(ended).toEqual({
      event: "editing_ended",
      data: { resource_type: "fund", resource_id: fund },
      id: "msg_127",
    });
    expect((await alice.nextEvent("editors_updated")).data.editors).toEqual([
      { user_id: "alice", email: "alice@example.com" },
    ]);
    alice.close();
    bob.close();
  });

  it("update_resource reaches every editor and fund_updates subscriber; the sender's copy carries its id", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    const bob = await connect(await editorToken("bob"));
    const watcher = await connect(await signToken({ sub: "watcher" }));
    await startEditing(alice, fund);
    await startEditing(bob, fund);
    await watcher.request("subscribe", { channel: "fund_updates", fund_id: fund });
    alice.send("update_resource", fundEdit(fund, "fee_structure.management_fee_rate", 0.025), "msg_126");
    const expected = {
      event: "resource_updated",
      data: {
        resource_type: "fund",
        resource_id: fund,
        path: "fee_structure.management_fee_rate",
        value: 0.025,
        updated_by: "alice@example.com",
      },
      seq: 1,
    };
    expect(await alice.nextEvent("resource_updated")).toEqual({ ...expected, id: "msg_126" });
    expect(await bob.nextEvent("resource_updated")).toEqual(expected);
    expect(await watcher.nextEvent("resource_updated")).toEqual(expected);
    const document = (await (await readDocument(fund)).json()) as { document: unknown };
    expect(document.document).toEqual({ fee_structure: { management_fee_rate: 0.025 } });
    for (const socket of [alice, bob, watcher]) socket.close();
  });

  it("refuses edits without a session, without edit scope or outside the token's resources", async () => {
    const fund = unique("fund");
    const noSession = await connect(await editorToken("carol"));
    expect(await noSession.request("update_resource", fundEdit(fund, "a", 1), "u1")).toMatchObject({
      event: "error",
      id: "u1",
      data: { code: "invalid_message", details: { issue: "editing_not_started" } },
    });
    const viewer = await connect(await signToken({ sub: "viewer" }));
    await startEditing(viewer, fund);
    expect(await viewer.request("update_resource", fundEdit(fund, "a", 1), "u2")).toMatchObject({
      event: "error",
      data: { code: "authorization_error", details: { scope: "edit" } },
    });
    const limited = await connect(await editorToken("dave", { resources: ["fund:other_fund"] }));
    expect(await limited.request("start_editing", { resource_type: "fund", resource_id: fund }, "s")).toMatchObject({
      event: "error",
      data: { code: "authorization_error" },
    });
    expect(await limited.request("start_editing", { resource_type: "spaceship", resource_id: "x" }, "t")).toMatchObject(
      {
        event: "error",
        data: { code: "resource_not_found" },
      },
    );
    expect((await readDocument(fund)).status).toBe(404);
    for (const socket of [noSession, viewer, limited]) socket.close();
  });

  it("refuses bad paths and values and leaves the document untouched", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    await startEditing(alice, fund);
    alice.send("update_resource", fundEdit(fund, "terms.hurdle_rate", 0.08), "ok");
    await alice.next((frame) => frame.id === "ok");
    const bad: [string, unknown][] = [
      ["", 1],
      ["Terms.rate", 1],
      ["terms..rate", 1],
      ["terms.__proto__.polluted", 1],
      ["constructor", 1],
      ["a.b.c.d.e.f.g.h.i", 1],
      ["terms.hurdle_rate.nested", 1],
      ["terms.notes", "x".repeat(MAX_EDIT_VALUE_BYTES)],
    ];
    for (const [path, value] of bad) {
      const reply = await alice.request("update_resource", fundEdit(fund, path, value));
      expect(reply.event, path).toBe("error");
      expect(reply.data.code, path).toBe("invalid_message");
    }
    const missingValue = await alice.request("update_resource", {
      resource_type: "fund",
      resource_id: fund,
      path: "a",
    });
    expect(missingValue.data.code).toBe("invalid_message");
    const body = (await (await readDocument(fund)).json()) as { document: unknown };
    expect(body.document).toEqual({ terms: { hurdle_rate: 0.08 } });
    expect({} as Record<string, unknown>).not.toHaveProperty("polluted");
    alice.close();
  });

  it("a socket that closes without end_editing leaves the editors list", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    const bob = await connect(await editorToken("bob"));
    await startEditing(alice, fund);
    await startEditing(bob, fund);
    await alice.nextEvent("editors_updated");
    bob.close();
    const notice = await alice.next(
      (frame) => frame.event === "editors_updated" && (frame.data.editors as unknown[]).length === 1,
    );
    expect(notice.data.editors).toEqual([{ user_id: "alice", email: "alice@example.com" }]);
    alice.close();
  });

  it("nothing acknowledged is lost when the document is evicted mid-session", async () => {
    const fund = unique("fund");
    const alice = await connect(await editorToken("alice"));
    await startEditing(alice, fund);
    for (let i = 0; i < 5; i++) {
      alice.send("update_resource", fundEdit(fund, `schedule.year_${i}`, i * 10), `e${i}`);
      await alice.next((frame) => frame.id === `e${i}`);
    }
    await evictDurableObject(env.DOCUMENT.getByName(`fund:${fund}`));
    alice.send("update_resource", fundEdit(fund, "schedule.year_5", 50), "e5");
    expect(await alice.next((frame) => frame.id === "e5")).toMatchObject({ event: "resource_updated", seq: 6 });
    const body = (await (await readDocument(fund)).json()) as { document: { schedule: Record<string, number> } };
    expect(body.document.schedule).toEqual({ year_0: 0, year_1: 10, year_2: 20, year_3: 30, year_4: 40, year_5: 50 });
    alice.close();
  });

  it("compaction keeps the document identical, across an eviction", async () => {
    const fund = unique("fund");
    const stub = env.DOCUMENT.getByName(`fund:${fund}`);
    const total = DOCUMENT_COMPACT_UPDATES + 20;
    for (let start = 0; start < total; start += 100) {
      const batch = [];
      for (let i = start; i < Math.min(total, start + 100); i++) {
        batch.push({
          event: "resource_updated",
          data: { resource_type: "fund", resource_id: fund, path: `cells.c${i % 50}`, value: i, updated_by: "engine" },
        });
      }
      await ingestOk(batch);
    }
    const { log } = await stub.describe();
    expect(log.count).toBeLessThan(DOCUMENT_COMPACT_UPDATES);
    const before = ((await (await readDocument(fund)).json()) as { document: unknown }).document;
    await stub.compact();
    expect((await stub.describe()).log.count).toBe(0);
    await evictDurableObject(stub);
    const after = ((await (await readDocument(fund)).json()) as { document: Record<string, Record<string, number>> })
      .document;
    expect(after).toEqual(before);
    let lastC49 = -1;
    for (let i = 0; i < total; i++) if (i % 50 === 49) lastC49 = i;
    expect(after.cells?.c49).toBe(lastC49);
  });
});

describe("the shared document from y-websocket clients", () => {
  it("a Yjs edit reaches JSON editors as one resource_updated per leaf, and a JSON edit reaches Yjs", async () => {
    const fund = unique("fund");
    const json = await connect(await editorToken("alice"));
    await startEditing(json, fund);
    const yjs = await connectYjs(`fund/${fund}`, await editorToken("yuki"));
    await yjs.until(() => yjs.synced, "sync");
    yjs.doc.transact(() => {
      const fees = new Y.Map<unknown>();
      yjs.doc.getMap("data").set("fee_structure", fees);
      fees.set("management_fee_rate", 0.02);
      fees.set("carried_interest", 0.2);
    });
    const first = await json.nextEvent("resource_updated");
    const second = await json.nextEvent("resource_updated");
    expect([first, second].map((frame) => [frame.data.path, frame.data.value, frame.data.updated_by]).sort()).toEqual([
      ["fee_structure.carried_interest", 0.2, "yuki@example.com"],
      ["fee_structure.management_fee_rate", 0.02, "yuki@example.com"],
    ]);
    json.send("update_resource", fundEdit(fund, "fee_structure.management_fee_rate", 0.025), "j1");
    await yjs.until(
      () => (yjs.data.fee_structure as Record<string, number> | undefined)?.management_fee_rate === 0.025,
      "json edit",
    );
    json.close();
    yjs.close();
  });

  it("concurrent edits converge: different keys both survive, the same key agrees everywhere", async () => {
    const fund = unique("fund");
    const a = await connectYjs(`fund/${fund}`, await editorToken("ann"));
    const b = await connectYjs(`fund/${fund}`, await editorToken("ben"));
    const json = await connect(await editorToken("jay"));
    await startEditing(json, fund);
    await a.until(() => a.synced, "a sync");
    await b.until(() => b.synced, "b sync");
    a.doc.getMap("data").set("target_size", 100);
    b.doc.getMap("data").set("vintage", 2024);
    a.doc.getMap("data").set("currency", "USD");
    b.doc.getMap("data").set("currency", "EUR");
    json.send("update_resource", fundEdit(fund, "currency", "GBP"), "c");
    const settled = () =>
      a.data.target_size === 100 && a.data.vintage === 2024 && b.data.target_size === 100 && b.data.vintage === 2024;
    await a.until(settled, "both keys");
    // Key order may differ between replicas; the content may not.
    const canonical = (data: Record<string, unknown>) => JSON.stringify(Object.entries(data).sort());
    await a.until(() => canonical(a.data) === canonical(b.data), "convergence");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const server = ((await (await readDocument(fund)).json()) as { document: unknown }).document;
    expect(server).toEqual(a.data);
    expect(server).toEqual(b.data);
    for (const client of [a, b]) client.close();
    json.close();
  });

  it("a late joiner receives everything; read-only clients receive but cannot write", async () => {
    const fund = unique("fund");
    const writer = await connectYjs(`fund/${fund}`, await editorToken("wendy"));
    await writer.until(() => writer.synced, "sync");
    writer.doc.getMap("data").set("name", "Fund I");
    const reader = await connectYjs(`fund/${fund}`, await signToken({ sub: "reader" }));
    await reader.until(() => reader.data.name === "Fund I", "late join");
    reader.doc.getMap("data").set("name", "Hacked");
    await reader.until(() => reader.denied.length > 0, "permission denied");
    writer.doc.getMap("data").set("size", 5);
    await reader.until(() => reader.data.size === 5, "still receives");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(writer.data.name).toBe("Fund I");
    const server = ((await (await readDocument(fund)).json()) as { document: Record<string, unknown> }).document;
    expect(server.name).toBe("Fund I");
    writer.close();
    reader.close();
  });

  it("presence: a closing connection removes only its own awareness states", async () => {
    const fund = unique("fund");
    const a = await connectYjs(`fund/${fund}`, await editorToken("ann"));
    const b = await connectYjs(`fund/${fund}`, await editorToken("ben"));
    await a.until(() => a.synced, "sync");
    a.setPresence({ user: "ann" });
    b.setPresence({ user: "ben" });
    await a.until(() => a.awareness.has(b.doc.clientID), "b's presence");
    await b.until(() => b.awareness.has(a.doc.clientID), "a's presence");
    // b cannot remove a's state: only a's connection owns it.
    b.setPresence(null, a.doc.clientID);
    const c = await connectYjs(`fund/${fund}`, await editorToken("cid"));
    await c.until(() => c.awareness.size === 2, "both states for a newcomer");
    a.close();
    await b.until(() => !b.awareness.has(a.doc.clientID), "a removed");
    await c.until(() => !c.awareness.has(a.doc.clientID), "a removed for c");
    expect(c.awareness.has(b.doc.clientID)).toBe(true);
    b.close();
    c.close();
  });

  it("refuses a Yjs update that writes a key which would vanish or pollute in JSON, and echoes presence", async () => {
    const fund = unique("fund");
    const writer = await connectYjs(`fund/${fund}`, await editorToken("wendy"));
    await writer.until(() => writer.synced, "sync");
    writer.doc.getMap("data").set("ok", 1);
    writer.doc.getMap("data").set("__proto__", { polluted: true });
    await writer.until(() => writer.denied.length > 0, "permission denied");
    // A lone client hears its own presence back, which keeps y-websocket's watchdog quiet.
    writer.setPresence({ user: "wendy" });
    await writer.until(() => writer.awareness.has(writer.doc.clientID), "own presence echoed");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const server = ((await (await readDocument(fund)).json()) as { document: unknown }).document;
    expect(server).toEqual({ ok: 1 });
    writer.close();
  });

  it("refuses malformed binary, text frames, bad tokens and foreign resources with close codes", async () => {
    const fund = unique("fund");
    const writer = await connectYjs(`fund/${fund}`, await editorToken("wendy"));
    await writer.until(() => writer.synced, "sync");
    writer.doc.getMap("data").set("kept", true);
    const rogue = await connectYjs(`fund/${fund}`, await editorToken("rogue"));
    rogue.ws.send(new Uint8Array([0, 2, 200, 1, 2]));
    await rogue.until(() => rogue.closed !== null, "close");
    expect(rogue.closed?.code).toBe(1003);
    const texter = await connectYjs(`fund/${fund}`, await editorToken("texter"));
    texter.ws.send("hello");
    await texter.until(() => texter.closed !== null, "close");
    expect(texter.closed?.code).toBe(1003);
    const anonymous = await connectYjs(`fund/${fund}`, null);
    await anonymous.until(() => anonymous.closed !== null, "close");
    expect(anonymous.closed?.code).toBe(4401);
    const outsider = await connectYjs(`fund/${fund}`, await editorToken("out", { resources: ["fund:another"] }));
    await outsider.until(() => outsider.closed !== null, "close");
    expect(outsider.closed?.code).toBe(4403);
    const server = ((await (await readDocument(fund)).json()) as { document: unknown }).document;
    expect(server).toEqual({ kept: true });
    writer.close();
  });

  it("a connection whose token runs out is closed with 4401 by the alarm, also after the document was evicted", async () => {
    const fund = unique("fund");
    const stub = env.DOCUMENT.getByName(`fund:${fund}`);
    const jane = await connect(await editorToken("jane"));
    await startEditing(jane, fund);
    const editorsFrame = (...subs: string[]) =>
      JSON.stringify({
        event: "editors_updated",
        data: {
          resource_type: "fund",
          resource_id: fund,
          editors: subs.map((sub) => ({ user_id: sub, email: `${sub}@example.com` })),
        },
      });
    const editorsNow = (...subs: string[]) => jane.next((frame) => JSON.stringify(frame) === editorsFrame(...subs));
    const short = await connectYjs(`fund/${fund}`, await editorToken("shorty", { ttl: 60 }));
    const long = await connectYjs(`fund/${fund}`, await editorToken("longo", { ttl: 3600 }));
    await short.until(() => short.synced, "sync");
    await long.until(() => long.synced, "sync");
    await editorsNow("jane", "longo", "shorty");
    short.doc.getMap("data").set("before", 1);
    await long.until(() => long.data.before === 1, "the edit relayed");
    // The connections come back from their attachments; the stored alarm outlives the object.
    await evictDurableObject(stub);
    vi.useFakeTimers({ toFake: ["Date"] });
    let ran: boolean;
    try {
      // Past the short token's end (60 s, and the 30 s clock tolerance), well before the long one's.
      vi.setSystemTime(Date.now() + 120_000);
      ran = await runDurableObjectAlarm(stub);
    } finally {
      vi.useRealTimers();
    }
    expect(ran).toBe(true);
    await short.until(() => short.closed !== null, "the expired connection closed");
    expect(short.closed).toEqual({ code: 4401, reason: "token expired" });
    // The JSON editor hears of it, the frame byte for byte as the JSON hub encodes it.
    await editorsNow("jane", "longo");
    // The other connection was restored too, and still syncs.
    expect(long.closed).toBeNull();
    long.doc.getMap("data").set("after", 2);
    await long.until(() => long.data.after === 2, "own edit");
    const reader = await connectYjs(`fund/${fund}`, await editorToken("reader"));
    await reader.until(() => reader.data.after === 2 && reader.data.before === 1, "both edits");
    expect((await stub.describe()).connections).toBe(2);
    reader.close();
    long.close();
    jane.close();
  });
});

describe("edits from ingest and the document as JSON", () => {
  it("a published resource_updated is applied, reaches editors and subscribers, and is deduplicated", async () => {
    const fund = unique("fund");
    const json = await connect(await editorToken("alice"));
    await startEditing(json, fund);
    const event = {
      event: "resource_updated",
      id: "calc-1",
      data: {
        resource_type: "fund",
        resource_id: fund,
        path: "computed.irr",
        value: 0.14,
        updated_by: "simulation-engine",
      },
    };
    const first = await ingestOk(event);
    expect(first.results).toEqual([{ event: "resource_updated", channel: "fund_updates", key: fund, seq: 1 }]);
    expect(await json.nextEvent("resource_updated")).toMatchObject({
      id: "calc-1",
      seq: 1,
      data: { path: "computed.irr", updated_by: "simulation-engine" },
    });
    const again = await ingestOk(event);
    expect(again.results[0]).toMatchObject({ seq: 1, duplicate: true });
    expect(await json.quiet(200)).toEqual([]);
    json.close();
  });

  it("a batch with an edit through an existing value is refused whole", async () => {
    const fund = unique("fund");
    await ingestOk({
      event: "resource_updated",
      data: { resource_type: "fund", resource_id: fund, path: "a", value: 1, updated_by: "e" },
    });
    const response = await ingest([
      {
        event: "resource_updated",
        data: { resource_type: "fund", resource_id: fund, path: "b", value: 2, updated_by: "e" },
      },
      {
        event: "resource_updated",
        data: { resource_type: "fund", resource_id: fund, path: "a.deeper", value: 3, updated_by: "e" },
      },
    ]);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: {
        details: {
          errors: [
            {
              index: 1,
              issues: [{ path: "data.path", message: "a is a value, not an object", issue: "path_conflict" }],
            },
          ],
        },
      },
    });
    const body = (await (await readDocument(fund)).json()) as { document: unknown };
    expect(body.document).toEqual({ a: 1 });
  });

  it("checks a batch's edits in order: a value and a path through it in one batch is refused whole", async () => {
    const fund = unique("fund");
    const edit = (path: string, value: unknown) => ({
      event: "resource_updated",
      data: { resource_type: "fund", resource_id: fund, path, value, updated_by: "e" },
    });
    const response = await ingest([edit("a", 1), edit("a.b", 2)]);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { details: { errors: [{ index: 1 }] } } });
    expect((await readDocument(fund)).status).toBe(404);
  });

  it("GET /v1/resources: the document to an allowed reader; 401, 403 and 404 otherwise", async () => {
    const fund = unique("fund");
    await ingestOk({
      event: "resource_updated",
      data: { resource_type: "fund", resource_id: fund, path: "x", value: [1, 2], updated_by: "e" },
    });
    const ok = await readDocument(fund);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ resource_type: "fund", resource_id: fund, document: { x: [1, 2] } });
    expect((await exports.default.fetch(`http://edge.test/v1/resources/fund/${fund}`)).status).toBe(401);
    expect((await readDocument(fund, await signToken({ resources: ["fund:other"] }))).status).toBe(403);
    expect((await readDocument(unique("fund"))).status).toBe(404);
    expect((await exports.default.fetch(`http://edge.test/v1/resources/spaceship/${fund}`)).status).toBe(404);
  });
});
