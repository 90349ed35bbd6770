/**
 * The document's outbox across a restart: edits stored while their topic could not be reached,
 * then the document Durable Object restarts (evicted, as after a crash or a deploy). After the
 * restart every stored edit's event is published exactly once and in order, the JSON editor
 * gets each acknowledgement once, and neither the editor nor the ingest caller is ever told that
 * a stored edit failed. A row the topic stored but the document never saw deleted is published
 * again after the restart, and the topic answers it as a duplicate: no edit is seen twice.
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import {
  connect,
  documentOf,
  type Frame,
  fundEdit,
  ingest,
  ingestOk,
  startEditing,
  type TestSocket,
  unique,
} from "../helpers/client";
import { expectLogs } from "../helpers/expected-logs";
import { failCalls, loseReplies } from "../helpers/replace-method";
import { editorToken, signToken } from "../helpers/tokens";

const published = (fund: string, path: string, value: unknown, id: string) => ({
  event: "resource_updated",
  id,
  data: { ...fundEdit(fund, path, value), updated_by: "engine" },
});

let restorePublish: (() => void) | null = null;
/** Makes the fund's topic (every topic of this isolate) refuse publishes until `topicBack`. */
async function topicDown(_fund: string): Promise<void> {
  restorePublish = failCalls(env.TOPIC, "publish", "topic down");
}
function topicBack(): void {
  restorePublish?.();
  restorePublish = null;
}
afterEach(topicBack);

let restoreReplies: (() => void) | null = null;
/**
 * The crash window: every topic of this isolate stores what it is sent, but the document never
 * learns it (as when it stops after the topic stored a row and before it deleted the row).
 */
function repliesLost(): void {
  restoreReplies = loseReplies(env.TOPIC, "publish", "reply lost");
}
function repliesBack(): void {
  restoreReplies?.();
  restoreReplies = null;
}
afterEach(repliesBack);

/** What a new subscriber replaying the fund's topic from the start receives: [seq, path]. */
async function history(fund: string, count: number): Promise<[number | undefined, unknown][]> {
  const late = await connect(await signToken());
  await late.request("subscribe", { channel: "fund_updates", fund_id: fund, since_seq: 0 });
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) frames.push(await late.next((frame) => frame.event === "resource_updated"));
  expect(await late.quiet(150), "more events than edits").toEqual([]);
  late.close();
  return frames.map((frame) => [frame.seq, frame.data.path]);
}

/** Stores three JSON edits and one ingested edit while the topic is down; nothing is refused. */
async function storeWhileTopicDown(fund: string, json: TestSocket): Promise<void> {
  await topicDown(fund);
  json.send("update_resource", fundEdit(fund, "a", 1), "e1");
  json.send("update_resource", fundEdit(fund, "b", 2), "e2");
  json.send("update_resource", fundEdit(fund, "c", 3), "e3");
  await expect.poll(() => documentOf(fund), { timeout: 3000 }).toEqual({ a: 1, b: 2, c: 3 });
  const pending = await ingest([published(fund, "d", 4, "i1")]);
  // Stored, not refused: the documented "not published yet", with the way to learn the seq.
  expect(pending.status).toBe(503);
  expect(await pending.json()).toMatchObject({ error: { details: { issue: "publish_pending" } } });
  expect(await json.quiet(100)).toEqual([]);
  expect(await documentOf(fund)).toEqual({ a: 1, b: 2, c: 3, d: 4 });
}

/** The editor's acknowledgements: each id once, in order, with seqs 1..3. */
async function expectAcksOnce(json: TestSocket): Promise<void> {
  const acks: [unknown, number | undefined][] = [];
  for (let i = 0; i < 3; i++) {
    const frame = await json.next((f) => f.event === "resource_updated" && String(f.id).startsWith("e"));
    acks.push([frame.id, frame.seq]);
  }
  expect(acks).toEqual([
    ["e1", 1],
    ["e2", 2],
    ["e3", 3],
  ]);
}

describe("edits stored but not yet published, then the document restarts", () => {
  it("the alarm after the restart publishes each once, in order; the editor and ingest learn their seqs", async () => {
    // The service says what it is waiting for: the topic is down (or its reply lost), the
    // ingest caller is told publish_pending.
    const logs = expectLogs(/document outbox: topic unavailable|edits are stored; their events are not published yet/);
    onTestFinished(() => expect(logs.lines().length, "the outbox said it waits for the topic").toBeGreaterThan(0));
    const fund = unique("fund");
    const json = await connect(await editorToken("crash1"));
    await startEditing(json, fund);
    await storeWhileTopicDown(fund, json);

    const document = env.DOCUMENT.getByName(`fund:${fund}`);
    await evictDurableObject(document);
    topicBack();
    // The stored alarm is what brings the restarted object back to its outbox.
    expect(await runDurableObjectAlarm(document)).toBe(true);

    await expectAcksOnce(json);
    expect(await history(fund, 4)).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
      [4, "d"],
    ]);
    const again = await ingestOk([published(fund, "d", 4, "i1")]);
    expect(again.results.map((result) => [result.seq, result.duplicate])).toEqual([[4, true]]);
    expect(json.frames.filter((frame) => frame.event === "error")).toEqual([]);
    expect(json.frames.filter((frame) => frame.event === "resource_updated")).toHaveLength(4);
    json.close();
  });

  it("the first edit after the restart publishes the older stored ones first", async () => {
    // The service says what it is waiting for: the topic is down (or its reply lost), the
    // ingest caller is told publish_pending.
    const logs = expectLogs(/document outbox: topic unavailable|edits are stored; their events are not published yet/);
    onTestFinished(() => expect(logs.lines().length, "the outbox said it waits for the topic").toBeGreaterThan(0));
    const fund = unique("fund");
    const json = await connect(await editorToken("crash2"));
    await startEditing(json, fund);
    await storeWhileTopicDown(fund, json);

    await evictDurableObject(env.DOCUMENT.getByName(`fund:${fund}`));
    topicBack();
    json.send("update_resource", fundEdit(fund, "e", 5), "e4");

    await expectAcksOnce(json);
    expect(await json.next((f) => f.id === "e4")).toMatchObject({ event: "resource_updated", seq: 5 });
    expect(await history(fund, 5)).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
      [4, "d"],
      [5, "e"],
    ]);
    expect(json.frames.filter((frame) => frame.event === "error")).toEqual([]);
    json.close();
  });
});

describe("a row the topic stored, then the document restarts before deleting it", () => {
  it("is answered as a duplicate when published again: each edit is seen once, in order, acked once", async () => {
    // The service says what it is waiting for: the topic is down (or its reply lost), the
    // ingest caller is told publish_pending.
    const logs = expectLogs(/document outbox: topic unavailable|edits are stored; their events are not published yet/);
    onTestFinished(() => expect(logs.lines().length, "the outbox said it waits for the topic").toBeGreaterThan(0));
    const fund = unique("fund");
    const json = await connect(await editorToken("crash3"));
    await startEditing(json, fund);
    const watcher = await connect(await signToken());
    await watcher.request("subscribe", { channel: "fund_updates", fund_id: fund });

    repliesLost();
    json.send("update_resource", fundEdit(fund, "a", 1), "e1");
    // The topic stored and delivered it; the document still holds the row.
    expect(await json.next((f) => f.id === "e1")).toMatchObject({ event: "resource_updated", seq: 1 });
    // The next edit publishes the older row again first (and again loses the reply).
    json.send("update_resource", fundEdit(fund, "b", 2), "e2");
    await expect.poll(() => documentOf(fund), { timeout: 3000 }).toEqual({ a: 1, b: 2 });
    const pending = await ingest([published(fund, "d", 4, "i1")]);
    expect(pending.status).toBe(503);
    expect(await pending.json()).toMatchObject({ error: { details: { issue: "publish_pending" } } });

    const document = env.DOCUMENT.getByName(`fund:${fund}`);
    await evictDurableObject(document);
    repliesBack();
    expect(await runDurableObjectAlarm(document)).toBe(true);

    expect(await json.next((f) => f.id === "e2")).toMatchObject({ event: "resource_updated", seq: 2 });
    const seen = async (socket: TestSocket) => {
      await socket.next((f) => f.event === "resource_updated" && f.data.path === "d");
      expect(await socket.quiet(150), "more events than edits").toEqual([]);
      return socket.frames
        .filter((f) => f.event === "resource_updated")
        .map((f) => [f.seq, f.data.path, f.id, f.data.updated_by]);
    };
    const watched = await seen(watcher);
    expect(watched).toEqual([
      [1, "a", undefined, "crash3@example.com"],
      [2, "b", undefined, "crash3@example.com"],
      [3, "d", "i1", "engine"],
    ]);
    // The editor: its own edits acknowledged once each, the ingested one as a plain event.
    expect(await seen(json)).toEqual([
      [1, "a", "e1", "crash3@example.com"],
      [2, "b", "e2", "crash3@example.com"],
      [3, "d", "i1", "engine"],
    ]);
    expect(await history(fund, 3)).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "d"],
    ]);
    // The frames of an edit without an event id still carry none on the wire.
    expect(watcher.frames.filter((f) => f.seq === 1).map((f) => Object.hasOwn(f, "id"))).toEqual([false]);
    const again = await ingestOk([published(fund, "d", 4, "i1")]);
    expect(again.results.map((result) => [result.seq, result.duplicate])).toEqual([[3, true]]);

    // And the topic carries on from there.
    json.send("update_resource", fundEdit(fund, "e", 5), "e3");
    expect(await json.next((f) => f.id === "e3")).toMatchObject({ event: "resource_updated", seq: 4 });
    expect(json.frames.filter((frame) => frame.event === "error")).toEqual([]);
    json.close();
    watcher.close();
  });
});
