import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_INGEST_BATCH, MAX_INGEST_BYTES } from "../../src/protocol/limits";
import { connect, ingest, ingestOk, progress, unique } from "../helpers/client";
import { replaceMethod } from "../helpers/replace-method";
import { publisherToken, signToken } from "../helpers/tokens";

describe("POST /v1/ingest", () => {
  it("401 without a token or with a bad one, 403 without publish scope", async () => {
    const body = progress(unique("sim"), 1);
    const none = await ingest(body, "");
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: { code: "authentication_error" } });
    expect((await ingest(body, "nope")).status).toBe(401);
    const noScope = await ingest(body, await signToken({ scope: "edit" }));
    expect(noScope.status).toBe(403);
    expect(await noScope.json()).toMatchObject({ error: { code: "authorization_error" } });
  });

  it("403 when a publisher token's resources do not reach an event's simulation", async () => {
    const response = await ingest(
      [progress("sim_mine", 1), progress("sim_theirs", 1)],
      await publisherToken({ resources: ["simulation:sim_mine"] }),
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      error: { code: "authorization_error", details: { errors: [{ index: 1, resource: "simulation:sim_theirs" }] } },
    });
  });

  it("403 when a resource-limited publisher posts to a system-wide channel it was not given", async () => {
    const limited = await publisherToken({ resources: ["simulation:*"] });
    const note = { event: "notification", data: { type: "info", message: "hi", timestamp: "2023-01-01T00:00:00Z" } };
    const refused = await ingest(note, limited);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      error: { details: { errors: [{ index: 0, resource: "system:notifications" }] } },
    });
    expect((await ingest(note, await publisherToken({ resources: ["system:*"] }))).status).toBe(200);
  });

  it("400 for a body that is not JSON, never a 5xx", async () => {
    const response = await ingest("{nope");
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_message" } });
  });

  it("413 over the body size limit and over the batch limit", async () => {
    const big = await ingest(JSON.stringify({ event: "notification", data: { pad: "x".repeat(MAX_INGEST_BYTES) } }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({
      error: { details: { issue: "body_too_large", limit: MAX_INGEST_BYTES } },
    });
    const many = await ingest(Array.from({ length: MAX_INGEST_BATCH + 1 }, (_, i) => progress(unique("sim"), i % 100)));
    expect(many.status).toBe(413);
    expect(await many.json()).toMatchObject({
      error: { details: { issue: "batch_too_large", limit: MAX_INGEST_BATCH, received: MAX_INGEST_BATCH + 1 } },
    });
  });

  it("a batch with one bad event is refused whole, with per-event details, and nothing is delivered", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const response = await ingest([progress(sim, 10), progress(sim, 101), { event: "no_such_event", data: {} }]);
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: { code: string; details: { errors: { index: number; event: string; issues: { path: string }[] }[] } };
    };
    expect(body.error.code).toBe("invalid_message");
    expect(body.error.details.errors.map((error) => [error.index, error.event])).toEqual([
      [1, "simulation_progress"],
      [2, "no_such_event"],
    ]);
    expect(body.error.details.errors[0]?.issues[0]?.path).toBe("data.progress");
    expect(await socket.quiet(300)).toEqual([]);
    // The next good event is seq 1: the refused batch consumed nothing.
    const { results } = await ingestOk(progress(sim, 11));
    expect(results[0]?.seq).toBe(1);
    expect(await socket.next()).toMatchObject({ seq: 1, data: { progress: 11 } });
    socket.close();
  });

  it("replies with event, channel, key and seq for each event, in request order, across channels", async () => {
    const a = unique("sim_a");
    const b = unique("sim_b");
    const { results } = await ingestOk([
      progress(a, 1),
      {
        event: "gp_entity_economics_calculation_started",
        data: { simulation_id: a, timestamp: "2023-01-01T12:00:00Z" },
      },
      progress(b, 1),
      progress(a, 2),
    ]);
    expect(results).toEqual([
      { event: "simulation_progress", channel: "simulation_updates", key: a, seq: 1 },
      { event: "gp_entity_economics_calculation_started", channel: "gp_entity_updates", key: a, seq: 1 },
      { event: "simulation_progress", channel: "simulation_updates", key: b, seq: 1 },
      { event: "simulation_progress", channel: "simulation_updates", key: a, seq: 2 },
    ]);
  });

  it("deduplicates by event id per channel and key: same seq, delivered once", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const event = { ...progress(sim, 5), id: "evt-1" };
    const first = await ingestOk(event);
    const again = await ingestOk([event, { ...progress(sim, 6), id: "evt-2" }, { ...progress(sim, 6), id: "evt-2" }]);
    expect(first.results[0]?.seq).toBe(1);
    expect(again.results.map((result) => [result.seq, result.duplicate ?? false])).toEqual([
      [1, true],
      [2, false],
      [2, true],
    ]);
    const delivered = [await socket.next(), await socket.next()];
    expect(delivered).toEqual([
      expect.objectContaining({ seq: 1, id: "evt-1" }),
      expect.objectContaining({ seq: 2, id: "evt-2" }),
    ]);
    expect(await socket.quiet(200)).toEqual([]);
    // The same id on another simulation is another event.
    const other = await ingestOk({ ...progress(unique("simulation"), 5), id: "evt-1" });
    expect(other.results[0]).not.toHaveProperty("duplicate");
    socket.close();
  });
});

describe("POST /v1/ingest: a document's refusal in the reply", () => {
  /** Posts one edit while every document refuses it with `details` (an object, as they travel). */
  async function refusedWith(details: Record<string, unknown>): Promise<unknown> {
    const fund = unique("fund");
    const restore = await replaceMethod(env.DOCUMENT.getByName(`fund:${fund}`), "applyBatch", () => async () => ({
      ok: false,
      errors: [{ position: 0, code: "invalid_message", message: "Invalid path", details }],
    }));
    try {
      const response = await ingest({
        event: "resource_updated",
        data: { resource_type: "fund", resource_id: fund, path: "a.b", value: 1, updated_by: "e" },
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { details: { errors: { issues: unknown[] }[] } } };
      return body.error.details.errors[0]?.issues[0];
    } finally {
      restore();
    }
  }

  it("names the issue code and reads the hint as the message", async () => {
    expect(await refusedWith({ issue: "path_conflict", at: "a", hint: "a is a value, not an object" })).toEqual({
      path: "data.path",
      message: "a is a value, not an object",
      issue: "path_conflict",
    });
  });

  it("reads an issue that is still a sentence as the message, and names no code", async () => {
    expect(await refusedWith({ issue: "a is a value, not an object" })).toEqual({
      path: "data.path",
      message: "a is a value, not an object",
    });
  });
});
