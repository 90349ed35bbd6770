/**
 * Edits are all or nothing, an edit that is stored is never reported as refused, and an editor
 * that closes while it starts editing does not stay an editor.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { hubPlacement } from "../../src/hub/shard";
import { CLOSE_CODES } from "../../src/protocol/errors";
import { connect, fundEdit, ingest, ingestOk, readDocument, startEditing, unique } from "../helpers/client";
import { expectLogs } from "../helpers/expected-logs";
import { failCalls, replaceMethod } from "../helpers/replace-method";
import { editorToken, signExpiringToken, signToken } from "../helpers/tokens";

const published = (fund: string, path: string, value: unknown, id?: string) => ({
  event: "resource_updated",
  ...(id === undefined ? {} : { id }),
  data: { ...fundEdit(fund, path, value), updated_by: "engine" },
});

async function documentOf(fund: string): Promise<Record<string, unknown>> {
  const response = await readDocument(fund);
  return response.status === 404 ? {} : ((await response.json()) as { document: Record<string, unknown> }).document;
}

/** Makes every topic of this isolate refuse publishes; `restorePublish` (and `afterEach`) stop it. */
let restorePublish: (() => void) | null = null;
function topicsFail(): void {
  restorePublish = failCalls(env.TOPIC, "publish", "topic unavailable (test)");
}

afterEach(() => {
  restorePublish?.();
  restorePublish = null;
});

describe("an ingest batch of edits is all or nothing", () => {
  it("an edit the batch itself makes impossible refuses the batch whole (400), nothing applied", async () => {
    const fund = unique("fund");
    const response = await ingest([published(fund, "terms", 5), published(fund, "terms.rate", 1)]);
    expect(response.status).toBe(400);
    expect(await documentOf(fund)).toEqual({});
  });

  // Before, ingest checked the batch (one RPC) and then applied it edit by edit (one RPC each):
  // a concurrent edit in between could make a later edit impossible, and the route answered 500
  // after part of the batch was committed. Check and apply are now one step in the document.
  it("against concurrent editors: every answer is 200 or 400, never 500, and a 400 applied nothing", async () => {
    const fund = unique("fund");
    const json = await connect(await editorToken("racer"));
    await startEditing(json, fund);
    const rounds = 15;
    const outcomes = await Promise.all(
      Array.from({ length: rounds }, async (_, round) => {
        // The JSON edit turns `b<round>` into a value; the batch needs it to be a map.
        json.send("update_resource", fundEdit(fund, `b${round}`, "value"), `j${round}`);
        const response = await ingest([published(fund, `a${round}.x`, round), published(fund, `b${round}.y`, round)]);
        return { round, status: response.status };
      }),
    );
    const document = await documentOf(fund);
    for (const { round, status } of outcomes) {
      expect([200, 400]).toContain(status);
      const a = document[`a${round}`] as Record<string, unknown> | undefined;
      if (status === 400) expect(a, `round ${round} was refused but its first edit stands`).toBeUndefined();
      else expect(a).toEqual({ x: round });
    }
    json.close();
  });
});

describe("an edit that is stored is never reported as refused", () => {
  it("a JSON editor gets no error when the topic is down, and its acknowledgement once it is back", async () => {
    const fund = unique("fund");
    const json = await connect(await editorToken("patient"));
    await startEditing(json, fund);
    const logs = expectLogs(/^document outbox: topic unavailable/);
    topicsFail();
    json.send("update_resource", fundEdit(fund, "terms.rate", 0.02), "stored1");
    expect(await json.quiet(300)).toEqual([]);
    expect(await documentOf(fund)).toEqual({ terms: { rate: 0.02 } });
    restorePublish?.();
    restorePublish = null;
    await runDurableObjectAlarm(env.DOCUMENT.getByName(`fund:${fund}`));
    expect(await json.next((frame) => frame.id === "stored1")).toMatchObject({
      event: "resource_updated",
      data: { path: "terms.rate", value: 0.02 },
      seq: 1,
    });
    // The document says why the event waits (and that its alarm retries), nothing else.
    expect(logs.lines().length).toBeGreaterThan(0);
    expect(logs.lines()).toEqual(logs.lines().map(() => expect.stringMatching(/Error: topic unavailable \(test\)$/)));
    json.close();
  });

  it("ingest answers 503 publish_pending, and the same events again get their seqs, applied once", async () => {
    const fund = unique("fund");
    const events = [published(fund, "terms.rate", 0.03, "e1"), published(fund, "terms.fee", 0.2, "e2")];
    const logs = expectLogs(/^(document outbox: topic unavailable|POST \/v1\/ingest failed)/);
    topicsFail();
    const pending = await ingest(events);
    expect(pending.status).toBe(503);
    expect(await pending.json()).toMatchObject({ error: { details: { issue: "publish_pending" } } });
    // The 503 is logged as the server's error it is, and the document says the event waits.
    expect(logs.lines()).toContainEqual(
      expect.stringMatching(
        /^POST \/v1\/ingest failed ProtocolError: The edits are stored; their events are not published yet$/,
      ),
    );
    expect(logs.lines()).toContainEqual(expect.stringMatching(/^document outbox: topic unavailable.*\(test\)$/));
    restorePublish?.();
    restorePublish = null;
    const { results } = await ingestOk(events);
    expect(results.map((result) => [result.seq, result.duplicate])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(await documentOf(fund)).toEqual({ terms: { rate: 0.03, fee: 0.2 } });
    const late = await connect(await signToken());
    await late.request("subscribe", { channel: "fund_updates", fund_id: fund, since_seq: 0 });
    expect([await late.next(), await late.next()].map((frame) => frame.seq)).toEqual([1, 2]);
    expect(await late.quiet(150)).toEqual([]);
    late.close();
  });
});

describe("an editor that closes while starting to edit", () => {
  it("does not stay an editor", async () => {
    const fund = unique("fund");
    for (let attempt = 0; attempt < 5; attempt++) {
      const socket = await connect(await editorToken(`ghost${attempt}`));
      socket.send("start_editing", { resource_type: "fund", resource_id: fund }, "s");
      socket.close();
    }
    const stub = env.DOCUMENT.getByName(`fund:${fund}`);
    await expect.poll(async () => (await stub.describe()).editors, { timeout: 3000 }).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await stub.describe()).editors).toEqual([]);
  });
});

describe("a socket that closes while its start_editing waits", () => {
  const restore: (() => void)[] = [];
  afterEach(() => {
    for (const undo of restore.splice(0)) undo();
  });

  // The race made deterministic: the subscription (hold) waits for the topic until the hub has
  // closed the socket (its token ran out) and that close has told the document it left; only
  // then does the join arrive. The hub must leave again after the join, or the document keeps an
  // editor nobody will remove. (A client's own close waits for the frame being handled.)
  it("while the hub holds its subscription: the join that arrives after the close is undone", async () => {
    const fund = unique("fund");
    const sub = "ghost_hold";
    const socket = await connect(await signExpiringToken({ sub, email: `${sub}@example.com`, scope: "edit" }));
    const expiresAt = Date.now() + 1000;
    // Flags, not promises: a promise resolved in one object's context continues in it, so the
    // test and the objects only share values, and each side polls on its own timers.
    const gate = { reached: false, released: false };
    restore.push(
      await replaceMethod(
        env.TOPIC.getByName(`fund_updates:${fund}`),
        "attach",
        (original) =>
          async function (this: unknown, ...args: unknown[]) {
            gate.reached = true;
            for (let waited = 0; !gate.released && waited < 5000; waited += 10) await scheduler.wait(10);
            return original.apply(this, args);
          },
      ),
    );
    const calls: string[] = [];
    const stub = env.DOCUMENT.getByName(`fund:${fund}`);
    for (const name of ["join", "leave"]) {
      restore.push(
        await replaceMethod(
          stub,
          name,
          (original) =>
            async function (this: unknown, ...args: unknown[]) {
              const result = await original.apply(this, args);
              calls.push(name);
              return result;
            },
        ),
      );
    }
    socket.send("start_editing", { resource_type: "fund", resource_id: fund }, "s");
    await expect.poll(() => gate.reached, { timeout: 3000 }).toBe(true);
    // The token runs out while the subscription waits; the hub's alarm closes the socket.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 50));
    await runDurableObjectAlarm(env.HUB.getByName(hubPlacement(sub, undefined, Number(env.HUB_SHARDS)).name));
    expect((await socket.waitClosed()).code).toBe(CLOSE_CODES.authentication_failed);
    await expect.poll(() => calls, { timeout: 3000 }).toEqual(["leave"]);
    gate.released = true;
    await expect.poll(() => calls, { timeout: 3000 }).toEqual(["leave", "join", "leave"]);
    expect((await stub.describe()).editors).toEqual([]);
  });
});

describe("a JSON editor's update_resource sent twice with the same id", () => {
  // Hub edits carry the socket and message id as their dedupe key, as ingest edits carry theirs.
  it("is applied once; the repeat is acknowledged again with the first one's seq", async () => {
    const fund = unique("fund");
    const json = await connect(await editorToken("twice"));
    await startEditing(json, fund);
    const watcher = await connect(await signToken());
    await watcher.request("subscribe", { channel: "fund_updates", fund_id: fund });
    json.send("update_resource", fundEdit(fund, "terms.rate", 0.01), "same");
    const first = await json.next((frame) => frame.id === "same");
    expect(first).toMatchObject({ event: "resource_updated", seq: 1 });
    // An edit in between: a repeat applied again would overwrite it.
    json.send("update_resource", fundEdit(fund, "terms.rate", 0.02), "other");
    await json.next((frame) => frame.id === "other");
    json.send("update_resource", fundEdit(fund, "terms.rate", 0.01), "same");
    expect(await json.next((frame) => frame.id === "same")).toEqual(first);
    expect(await documentOf(fund)).toEqual({ terms: { rate: 0.02 } });
    const seen = [await watcher.next(), await watcher.next()].map((frame) => [frame.seq, frame.data.value]);
    expect(seen).toEqual([
      [1, 0.01],
      [2, 0.02],
    ]);
    expect(await watcher.quiet(150)).toEqual([]);
    expect(json.frames.filter((frame) => frame.event === "error")).toEqual([]);
    json.close();
    watcher.close();
  });
});

describe("an ingest batch of edits is one change", () => {
  it("one log row for the batch, and each edit its own event, in order", async () => {
    const fund = unique("fund");
    const { results } = await ingestOk([
      published(fund, "a", 1, "b1"),
      published(fund, "b.c", 2, "b2"),
      published(fund, "b.d", 3, "b3"),
    ]);
    expect(results.map((result) => result.seq)).toEqual([1, 2, 3]);
    const { log } = await env.DOCUMENT.getByName(`fund:${fund}`).describe();
    expect(log.count).toBe(1);
    expect(await documentOf(fund)).toEqual({ a: 1, b: { c: 2, d: 3 } });
  });

  it("a concurrent edit that lands first makes the batch impossible: 400, none of it applied, never 500", async () => {
    const fund = unique("fund");
    const stub = env.DOCUMENT.getByName(`fund:${fund}`);
    let raced = false;
    const undo = await replaceMethod(
      stub,
      "applyBatch",
      (original) =>
        async function (this: unknown, ...args: unknown[]) {
          if (!raced) {
            raced = true;
            // Another editor's edit arrives first: `b` becomes a value.
            await original.apply(this, [args[0], [{ path: "b", value: "value", updatedBy: "other" }]]);
          }
          return original.apply(this, args);
        },
    );
    try {
      const response = await ingest([published(fund, "a.x", 1), published(fund, "b.y", 2)]);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error: {
          details: {
            errors: [{ index: 1, issues: [{ message: "b is a value, not an object", issue: "path_conflict" }] }],
          },
        },
      });
      expect(await documentOf(fund)).toEqual({ b: "value" });
    } finally {
      undo();
    }
  });
});
