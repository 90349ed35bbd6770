/**
 * Collaborative editing end to end: the real, unmodified `y-websocket` provider and `yjs` on
 * `/v1/yjs/fund/<id>`, and JSON-protocol editors on `/v1/ws`, co-editing one fund against a
 * real `wrangler dev`. The peers share no BroadcastChannel: everything goes through the server.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { type DevServer, startDevServer } from "./helpers/dev-server";
import { editorView, type Frame, JsonClient } from "./helpers/json-client";
import { waitFor } from "./helpers/wait";
import { nestedMap, openPeer, waitSynced, type YjsPeer } from "./helpers/yjs-peer";

let server: DevServer;
/** Everything a test opened; closed after each test whatever happened. */
const opened: { peers: YjsPeer[]; clients: JsonClient[] } = { peers: [], clients: [] };

beforeAll(async () => {
  server = await startDevServer();
});

async function closeAll(): Promise<void> {
  for (const peer of opened.peers.splice(0)) peer.destroy();
  await Promise.all(opened.clients.splice(0).map((client) => client.close()));
}

afterEach(closeAll);

afterAll(async () => {
  await closeAll();
  await server?.stop();
});

interface User {
  sub: string;
  email: string;
  scope?: string;
}

const alice: User = { sub: "yjs-alice", email: "alice@equihome.test", scope: "edit" };
const bob: User = { sub: "json-bob", email: "bob@equihome.test", scope: "edit" };
const carol: User = { sub: "yjs-carol", email: "carol@equihome.test", scope: "edit" };
const dave: User = { sub: "yjs-dave", email: "dave@equihome.test", scope: "edit" };
const reader: User = { sub: "yjs-reader", email: "reader@equihome.test" }; // no "edit" scope

const newFundId = () => `fund_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
const token = (user: User) => server.sign(user);

async function peer(user: User, fundId: string, label = user.sub): Promise<YjsPeer> {
  const created = openPeer(server.wsUrl, "fund", fundId, await token(user), label);
  opened.peers.push(created);
  await waitSynced(created);
  return created;
}

/** A JSON-protocol editor that has started editing the fund. */
async function jsonEditor(
  user: User,
  fundId: string,
  label = user.sub,
): Promise<{ client: JsonClient; started: Frame }> {
  const client = await JsonClient.connect(server.wsUrl, await token(user), label);
  opened.clients.push(client);
  const started = await client.request("start_editing", { resource_type: "fund", resource_id: fundId });
  expect(started).toMatchObject({ event: "editing_started", data: { resource_type: "fund", resource_id: fundId } });
  return { client, started };
}

/** `GET /v1/resources/fund/<id>`: the server's document (null while it has none). */
async function serverDocument(fundId: string): Promise<Record<string, unknown> | null> {
  const response = await fetch(`${server.url}/v1/resources/fund/${fundId}`, {
    headers: { Authorization: `Bearer ${await token(bob)}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (response.status === 404) return null;
  const body = (await response.json()) as { resource_type: string; resource_id: string; document: unknown };
  expect(response.status).toBe(200);
  expect(body).toMatchObject({ resource_type: "fund", resource_id: fundId });
  return body.document as Record<string, unknown>;
}

/** Polls an async check until it returns a value other than undefined, within `timeoutMs`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${String(last)})` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** JSON with object keys sorted, so that key order does not matter in comparisons. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, child]) => [key, canonical(child)]),
    );
  }
  return value;
}

/** Waits until every peer, every JSON editor's view and the server hold `expected` (or the same document). */
async function converged(
  fundId: string,
  peers: YjsPeer[],
  editors: JsonClient[],
  expected?: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const describe = () =>
    `\n${peers.map((p) => `${p.label}: ${JSON.stringify(p.data())}`).join("\n")}\n${editors
      .map((e) => `${e.label}: ${JSON.stringify(safeView(e, fundId))}`)
      .join("\n")}`;
  try {
    return await eventually(`convergence of fund ${fundId}`, async () => {
      const document = await serverDocument(fundId);
      if (document === null) return undefined;
      if (expected !== undefined && !same(document, expected)) return undefined;
      for (const p of peers) if (!same(p.data(), document)) return undefined;
      for (const e of editors) if (!same(editorView(e.frames, "fund", fundId), document)) return undefined;
      return document;
    });
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver: ${JSON.stringify(await serverDocument(fundId).catch(String))}${describe()}`,
    );
  }
}

function safeView(client: JsonClient, fundId: string): unknown {
  try {
    return editorView(client.frames, "fund", fundId);
  } catch (error) {
    return String(error);
  }
}

/** Whether `peer` holds every update `other` made itself (state vectors). */
function hasAllOf(peer: YjsPeer, other: YjsPeer): boolean {
  const own = Y.decodeStateVector(Y.encodeStateVector(other.doc)).get(other.doc.clientID) ?? 0;
  return (Y.decodeStateVector(Y.encodeStateVector(peer.doc)).get(other.doc.clientID) ?? 0) >= own;
}

const updates = (client: JsonClient, from = 0) =>
  client.frames.slice(from).filter((frame) => frame.event === "resource_updated");

describe("a y-websocket provider and a JSON editor co-editing one fund", () => {
  it("exchange edits both ways and end with the same document", async () => {
    const fundId = newFundId();
    const a = await peer(alice, fundId);
    const { client: editor, started } = await jsonEditor(bob, fundId);
    expect(started.data.document).toEqual({});
    // Who is editing: the y-websocket user counts as an editor too.
    expect(started.data.editors).toEqual(
      expect.arrayContaining([
        { user_id: alice.sub, email: alice.email },
        { user_id: bob.sub, email: bob.email },
      ]),
    );

    // A Yjs edit: a new nested map with one leaf, in one transaction.
    a.doc.transact(() => nestedMap(a, "fee_structure").set("management_fee_rate", 0.02));
    const first = await editor.waitFrame("resource_updated from the provider", (f) => f.event === "resource_updated");
    expect(first).toEqual({
      event: "resource_updated",
      data: {
        resource_type: "fund",
        resource_id: fundId,
        path: "fee_structure.management_fee_rate",
        value: 0.02,
        updated_by: alice.email,
      },
      seq: expect.any(Number),
    });

    // A change of an existing leaf: one more event for the same path.
    nestedMap(a, "fee_structure").set("management_fee_rate", 0.0175);
    const second = await editor.waitFrame(
      "the changed leaf",
      (f) => f.event === "resource_updated" && f.data.value === 0.0175,
    );
    expect(second.data).toMatchObject({ path: "fee_structure.management_fee_rate", updated_by: alice.email });
    expect(second.seq).toBe((first.seq as number) + 1);

    // JSON edits: into the provider's existing nested map, and a new nested map.
    const ack = await editor.request("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "fee_structure.carried_interest_rate",
      value: 0.2,
    });
    expect(ack).toMatchObject({
      event: "resource_updated",
      data: { path: "fee_structure.carried_interest_rate", value: 0.2, updated_by: bob.email },
      seq: (second.seq as number) + 1,
    });
    const terms = await editor.request("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "terms.hurdle",
      value: { rate: 0.08, compounding: "annual" },
    });
    expect(terms).toMatchObject({ event: "resource_updated", data: { path: "terms.hurdle", updated_by: bob.email } });

    await waitFor("the JSON edits in the provider's doc", () =>
      nestedMap(a, "fee_structure").get("carried_interest_rate") === 0.2 && a.doc.getMap("data").get("terms")
        ? true
        : undefined,
    );
    // The JSON edit went into the provider's own nested map (not a replacement of it), as a Y.Map.
    const fee = a.doc.getMap("data").get("fee_structure") as Y.Map<unknown>;
    expect(fee.get("management_fee_rate")).toBe(0.0175);
    expect(a.doc.getMap("data").get("terms")).toBeInstanceOf(Y.Map);

    const expected = {
      fee_structure: { management_fee_rate: 0.0175, carried_interest_rate: 0.2 },
      terms: { hurdle: { rate: 0.08, compounding: "annual" } },
    };
    await converged(fundId, [a], [editor], expected);
    // Exactly one resource_updated per changed leaf, nothing else.
    expect(updates(editor).map((f) => [f.data.path, f.data.updated_by])).toEqual([
      ["fee_structure.management_fee_rate", alice.email],
      ["fee_structure.management_fee_rate", alice.email],
      ["fee_structure.carried_interest_rate", bob.email],
      ["terms.hurdle", bob.email],
    ]);

    const ended = await editor.request("end_editing", { resource_type: "fund", resource_id: fundId });
    expect(ended).toMatchObject({ event: "editing_ended", data: { resource_type: "fund", resource_id: fundId } });
  });

  it("concurrent edits from two providers and a JSON editor: different keys all survive, one key converges", async () => {
    const fundId = newFundId();
    const a = await peer(alice, fundId);
    const c = await peer(carol, fundId);
    const { client: editor } = await jsonEditor(bob, fundId);
    // The nested map exists before the race (two concurrent creations of one map would be a
    // Yjs conflict between two maps, not between leaves).
    await editor.request("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "fee_structure.management_fee_rate",
      value: 0.02,
    });
    await converged(fundId, [a, c], [editor], { fee_structure: { management_fee_rate: 0.02 } });

    // Different keys, all at once: nothing is awaited between the three edits.
    nestedMap(a, "fee_structure").set("hurdle_rate", 0.08);
    a.doc.getMap("data").set("fund_name", "Alpha Fund");
    nestedMap(c, "fee_structure").set("catch_up_rate", 1);
    c.doc.getMap("data").set("vintage_year", 2024);
    const jsonAck = editor.send("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "fee_structure.carried_interest_rate",
      value: 0.2,
    });
    await editor.waitFrame("ack of the concurrent JSON edit", (f) => f.id === jsonAck);
    await converged(fundId, [a, c], [editor], {
      fund_name: "Alpha Fund",
      vintage_year: 2024,
      fee_structure: { management_fee_rate: 0.02, hurdle_rate: 0.08, catch_up_rate: 1, carried_interest_rate: 0.2 },
    });

    // The same key, all at once: one value wins, the same everywhere.
    nestedMap(a, "fee_structure").set("management_fee_rate", 0.015);
    nestedMap(c, "fee_structure").set("management_fee_rate", 0.0125);
    const sameKeyAck = editor.send("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "fee_structure.management_fee_rate",
      value: 0.01,
    });
    await editor.waitFrame("ack of the same-key JSON edit", (f) => f.id === sameKeyAck);
    // Each provider holds the other's latest update: both went through the server, so the
    // server has all three edits before the result is read.
    await waitFor("the providers hold each other's same-key edit", () =>
      hasAllOf(a, c) && hasAllOf(c, a) ? true : undefined,
    );
    const document = await converged(fundId, [a, c], [editor]);
    const fee = document.fee_structure as Record<string, unknown>;
    expect([0.015, 0.0125, 0.01]).toContain(fee.management_fee_rate);
    expect(fee).toMatchObject({ hurdle_rate: 0.08, catch_up_rate: 1, carried_interest_rate: 0.2 });
    expect(document).toMatchObject({ fund_name: "Alpha Fund", vintage_year: 2024 });
  });

  it("a provider that joins later receives everything, and JSON editors see it join", async () => {
    const fundId = newFundId();
    const a = await peer(alice, fundId);
    const { client: editor } = await jsonEditor(bob, fundId);
    a.doc.transact(() => {
      const fee = nestedMap(a, "fee_structure");
      fee.set("management_fee_rate", 0.02);
      fee.set("obsolete_rate", 0.5);
      a.doc.getMap("data").set("fund_name", "Alpha Fund");
    });
    await editor.request("update_resource", {
      resource_type: "fund",
      resource_id: fundId,
      path: "terms.hurdle_rate",
      value: 0.08,
    });
    nestedMap(a, "fee_structure").delete("obsolete_rate");
    const expected = {
      fee_structure: { management_fee_rate: 0.02 },
      fund_name: "Alpha Fund",
      terms: { hurdle_rate: 0.08 },
    };
    await converged(fundId, [a], [editor], expected);
    const deletion = updates(editor).find((f) => f.data.path === "fee_structure.obsolete_rate" && f.data.deleted);
    expect(deletion?.data).toMatchObject({ deleted: true, updated_by: alice.email });

    a.destroy(); // the late joiner meets only the server
    const before = editor.frames.length;
    const late = await peer(dave, fundId, "late-dave");
    expect(late.data()).toEqual(await serverDocument(fundId));
    expect(canonical(late.data())).toEqual(canonical(expected));
    const joined = await editor.waitFrame(
      "editors_updated with the late provider",
      (f) => f.event === "editors_updated" && JSON.stringify(f.data.editors).includes(dave.sub),
      5_000,
      before,
    );
    expect(joined.data).toMatchObject({ resource_type: "fund", resource_id: fundId });
    expect(joined.data.editors).toEqual(
      expect.arrayContaining([
        { user_id: dave.sub, email: dave.email },
        { user_id: bob.sub, email: bob.email },
      ]),
    );
    expect(JSON.stringify(joined.data.editors)).not.toContain(alice.sub);

    // And it edits like any other provider.
    late.doc.getMap("data").set("vintage_year", 2024);
    await converged(fundId, [late], [editor], { ...expected, vintage_year: 2024 });
  });
});

describe("awareness through the server", () => {
  it("a provider's user state reaches the others and is removed when it leaves", async () => {
    const fundId = newFundId();
    const a = await peer(alice, fundId, "aware-alice");
    const b = await peer(carol, fundId, "aware-carol");
    const aUser = { name: "Alice", color: "#ff0000" };
    a.provider.awareness.setLocalStateField("user", aUser);
    await waitFor("B sees A's user", () =>
      same(b.provider.awareness.getStates().get(a.doc.clientID)?.user, aUser) ? true : undefined,
    );
    b.provider.awareness.setLocalStateField("user", { name: "Carol" });
    await waitFor("A sees B's user", () =>
      same(a.provider.awareness.getStates().get(b.doc.clientID)?.user, { name: "Carol" }) ? true : undefined,
    );

    // A provider that connects now gets the current states from the server.
    const c = await peer(dave, fundId, "aware-dave");
    await waitFor("a new provider sees A and B", () =>
      same(c.provider.awareness.getStates().get(a.doc.clientID)?.user, aUser) &&
      same(c.provider.awareness.getStates().get(b.doc.clientID)?.user, { name: "Carol" })
        ? true
        : undefined,
    );
    // (A state still at clock 0, y-protocols' initial `{}`, is ignored by every peer: set one.)
    c.provider.awareness.setLocalStateField("user", { name: "Dave" });
    await waitFor("B sees C's user", () =>
      same(b.provider.awareness.getStates().get(c.doc.clientID)?.user, { name: "Dave" }) ? true : undefined,
    );

    // A leaves the normal way (destroy).
    const aClient = a.doc.clientID;
    a.destroy();
    await waitFor("B drops A", () => (b.provider.awareness.getStates().has(aClient) ? undefined : true), 3_000);
    await waitFor("C drops A", () => (c.provider.awareness.getStates().has(aClient) ? undefined : true), 3_000);

    // C's socket closes without y-websocket's goodbye (no null state sent): the server must
    // remove C's state itself.
    const cClient = c.doc.clientID;
    c.provider.shouldConnect = false;
    c.provider.ws?.close();
    await waitFor(
      "B drops C after its socket closed",
      () => (b.provider.awareness.getStates().has(cClient) ? undefined : true),
      3_000,
    );
    expect(b.provider.awareness.getStates().get(b.doc.clientID)?.user).toEqual({ name: "Carol" });
  });
});

describe("a read-only token (no edit scope)", () => {
  it("its provider's changes reach nobody, and it still receives the others' edits", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const fundId = newFundId();
      const writer = await peer(alice, fundId, "writer-alice");
      const { client: editor } = await jsonEditor(bob, fundId);
      nestedMap(writer, "fee_structure").set("management_fee_rate", 0.02);
      const seeded = { fee_structure: { management_fee_rate: 0.02 } };
      await converged(fundId, [writer], [editor], seeded);

      const ro = await peer(reader, fundId, "read-only");
      expect(ro.data()).toEqual(seeded);
      const editorFrames = editor.frames.length;

      // Local changes of the read-only provider: a new key and a change of an existing leaf.
      ro.doc.transact(() => {
        ro.doc.getMap("data").set("ro_note", "should not spread");
        nestedMap(ro, "fee_structure").set("management_fee_rate", 0.99);
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      // A barrier: an edit sent after the read-only one is seen everywhere, so the read-only
      // frame was handled long before.
      nestedMap(writer, "fee_structure").set("carried_interest_rate", 0.2);
      const afterWriter = { fee_structure: { management_fee_rate: 0.02, carried_interest_rate: 0.2 } };
      await converged(fundId, [writer], [editor], afterWriter);
      expect(writer.data()).toEqual(afterWriter);
      expect(canonical(await serverDocument(fundId))).toEqual(canonical(afterWriter));
      expect(updates(editor, editorFrames).map((f) => [f.data.path, f.data.updated_by])).toEqual([
        ["fee_structure.carried_interest_rate", alice.email],
      ]);
      // The server told the provider why (y-websocket logs a permission-denied auth message).
      expect(warn.mock.calls.some(([text]) => String(text).includes("Permission denied"))).toBe(true);

      // It still receives what the others write, from Yjs and from JSON.
      await waitFor("the read-only provider receives the writer's edit", () =>
        nestedMap(ro, "fee_structure").get("carried_interest_rate") === 0.2 ? true : undefined,
      );
      await editor.request("update_resource", {
        resource_type: "fund",
        resource_id: fundId,
        path: "terms.hurdle_rate",
        value: 0.08,
      });
      await waitFor("the read-only provider receives the JSON edit", () =>
        (ro.doc.getMap("data").get("terms") as Y.Map<unknown> | undefined)?.get("hurdle_rate") === 0.08
          ? true
          : undefined,
      );
      expect(ro.provider.wsconnected).toBe(true);
      expect(ro.closes).toEqual([]);
      // Its own local change stays local only.
      expect(ro.doc.getMap("data").get("ro_note")).toBe("should not spread");
      await converged(fundId, [writer], [editor], { ...afterWriter, terms: { hurdle_rate: 0.08 } });
    } finally {
      warn.mockRestore();
    }
  });
});
