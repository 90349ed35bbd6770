/**
 * An `update_resource` whose call to the document fails in transit (the document did the work,
 * the hub never heard back: a restart or a lost connection between the two). An edit with an
 * id carries a dedupe key, so the hub sends it again: the editor is acknowledged once, the edit
 * is applied once, and no error says that a stored edit failed. When every attempt fails, the
 * editor is told the outcome is unknown (`edit_unconfirmed`), not that the edit failed. An edit
 * without an id is never sent twice.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { connect, documentOf, fundEdit, startEditing, type TestSocket, unique } from "../helpers/client";
import { expectLogs } from "../helpers/expected-logs";
import { loseReplies } from "../helpers/replace-method";
import { editorToken, signToken } from "../helpers/tokens";

let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

async function editing(sub: string, fund: string): Promise<TestSocket> {
  const socket = await connect(await editorToken(sub));
  await startEditing(socket, fund);
  return socket;
}

async function watcher(fund: string): Promise<TestSocket> {
  const socket = await connect(await signToken({ sub: unique("watcher") }));
  const reply = await socket.request("subscribe", { channel: "fund_updates", fund_id: fund });
  expect(reply.event, JSON.stringify(reply)).toBe("subscribed");
  return socket;
}

describe("update_resource when the document's reply is lost", () => {
  it("once: the hub sends it again, and the editor is acknowledged once, with no error", async () => {
    const fund = unique("fund");
    const socket = await editing("retry_once", fund);
    const watching = await watcher(fund);
    restore = loseReplies(env.DOCUMENT, "applyEdit", "reply lost", 1);
    socket.send("update_resource", fundEdit(fund, "irr", 0.12), "u1");
    const ack = await socket.next((frame) => frame.id === "u1");
    expect(ack).toMatchObject({ event: "resource_updated", id: "u1", data: { path: "irr", value: 0.12 } });
    expect(await socket.quiet(300), "one acknowledgement, no error").toEqual([]);
    const seen = await watching.next((frame) => frame.event === "resource_updated");
    expect(seen).toMatchObject({ seq: ack.seq, data: { path: "irr", value: 0.12 } });
    expect(await watching.quiet(150), "the edit is applied once").toEqual([]);
    expect(await documentOf(fund)).toEqual({ irr: 0.12 });
  });

  it("every time: the editor is told the outcome is unknown, and the stored edit is still acknowledged", async () => {
    const logs = expectLogs(/unconfirmed|reply lost/);
    const fund = unique("fund");
    const socket = await editing("retry_always", fund);
    const watching = await watcher(fund);
    restore = loseReplies(env.DOCUMENT, "applyEdit", "reply lost");
    socket.send("update_resource", fundEdit(fund, "irr", 0.2), "u2");
    const frames = [
      await socket.next((frame) => frame.id === "u2", 10_000),
      await socket.next((frame) => frame.id === "u2", 10_000),
    ];
    const error = frames.find((frame) => frame.event === "error");
    expect(error?.data).toMatchObject({ code: "server_error", details: { issue: "edit_unconfirmed" } });
    const ack = frames.find((frame) => frame.event === "resource_updated");
    expect(ack, "the edit was stored: its acknowledgement arrives too").toMatchObject({ data: { value: 0.2 } });
    expect(await watching.next((frame) => frame.event === "resource_updated")).toMatchObject({ seq: ack?.seq });
    expect(await watching.quiet(150), "four attempts, one edit").toEqual([]);
    expect(await documentOf(fund)).toEqual({ irr: 0.2 });
    expect(logs.lines().some((line) => line.includes("unconfirmed after 4 attempts"))).toBe(true);
  });

  it("without an id: sent once (a repeat could apply it twice), and the failure is a server_error", async () => {
    const logs = expectLogs(/reply lost|server_error/);
    const fund = unique("fund");
    const socket = await editing("retry_none", fund);
    const watching = await watcher(fund);
    restore = loseReplies(env.DOCUMENT, "applyEdit", "reply lost", 1);
    socket.send("update_resource", fundEdit(fund, "n", 1));
    const error = await socket.next((frame) => frame.event === "error");
    expect(error.data).toMatchObject({ code: "server_error" });
    expect(await watching.next((frame) => frame.event === "resource_updated")).toMatchObject({ data: { value: 1 } });
    expect(await watching.quiet(150)).toEqual([]);
    socket.send("update_resource", fundEdit(fund, "n", 2));
    expect(await watching.next((frame) => frame.event === "resource_updated")).toMatchObject({ data: { value: 2 } });
    expect(logs.lines().length).toBeGreaterThan(0);
  });
});
