import { describe, expect, it } from "vitest";
import { connect, ingestOk, progress, unique } from "../helpers/client";
import { signToken } from "../helpers/tokens";

const at = "2023-01-01T12:00:00Z";
const zoneUpdates = {
  green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: 2 },
  orange: { appreciation_rate: 0.06, default_rate: 0.045, risk_score: 5 },
  red: { appreciation_rate: 0.09, default_rate: 0.085, risk_score: 8 },
};
const trafficLight = (extra: Record<string, unknown> = {}) => ({
  event: "traffic_light_update",
  data: {
    timestamp: at,
    zone_updates: zoneUpdates,
    market_conditions: {
      interest_rate_environment: "rising",
      economic_outlook: "stable",
      housing_market_trend: "appreciating",
    },
    ...extra,
  },
});

describe("channels", () => {
  it("simulation_updates: progress then completion, in order, with seq", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    await ingestOk([
      progress(sim, 45, { estimated_completion_time: "2023-01-01T00:05:00Z" }),
      {
        event: "simulation_completed",
        data: {
          simulation_id: sim,
          status: "completed",
          summary: { mean_irr: 0.13, median_irr: 0.12, irr_std_dev: 0.02 },
        },
      },
    ]);
    const first = await socket.nextEvent("simulation_progress");
    const second = await socket.nextEvent("simulation_completed");
    expect(first).toEqual({
      event: "simulation_progress",
      data: {
        simulation_id: sim,
        progress: 45,
        status: "processing",
        message: "Processing scenario 450/1000",
        estimated_completion_time: "2023-01-01T00:05:00Z",
      },
      seq: 1,
    });
    expect(second).toMatchObject({ seq: 2, data: { summary: { mean_irr: 0.13 } } });
    socket.close();
  });

  it("gp_entity_updates: all four economics events", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "gp_entity_updates", simulation_id: sim });
    await ingestOk([
      { event: "gp_entity_economics_calculation_started", data: { simulation_id: sim, timestamp: at } },
      {
        event: "gp_entity_economics_calculation_progress",
        data: {
          simulation_id: sim,
          progress: 50,
          step: "calculating_management_company_metrics",
          message: "Calculating management company metrics",
          timestamp: "2023-01-01T12:00:05Z",
        },
      },
      {
        event: "gp_entity_economics_calculation_completed",
        data: {
          simulation_id: sim,
          summary: {
            total_revenue: 2500000,
            total_expenses: 4183627,
            total_net_income: -1683627,
            profit_margin: -0.6734,
          },
          timestamp: "2023-01-01T12:00:10Z",
        },
      },
      {
        event: "gp_entity_economics_calculation_failed",
        data: {
          simulation_id: sim,
          error: "Failed to calculate GP entity economics: Invalid configuration",
          timestamp: "2023-01-01T12:00:10Z",
        },
      },
    ]);
    const events = [];
    for (let i = 0; i < 4; i++) events.push(await socket.next((frame) => frame.event.startsWith("gp_entity")));
    expect(events.map((frame) => [frame.event, frame.seq])).toEqual([
      ["gp_entity_economics_calculation_started", 1],
      ["gp_entity_economics_calculation_progress", 2],
      ["gp_entity_economics_calculation_completed", 3],
      ["gp_entity_economics_calculation_failed", 4],
    ]);
    socket.close();
  });

  it("system_notifications: every subscriber gets notifications, with no key", async () => {
    const a = await connect(await signToken({ sub: unique("a") }));
    const b = await connect(await signToken({ sub: unique("b") }));
    for (const socket of [a, b]) {
      expect(await socket.request("subscribe", { channel: "system_notifications" }, "n")).toMatchObject({
        event: "subscribed",
        data: { channel: "system_notifications", seq: expect.any(Number) },
      });
    }
    const message = unique("maintenance");
    await ingestOk({ event: "notification", data: { type: "info", message, timestamp: "2023-01-01T00:00:00Z" } });
    for (const socket of [a, b]) {
      const note = await socket.next((frame) => frame.event === "notification" && frame.data.message === message);
      expect(note.data).toEqual({ type: "info", message, timestamp: "2023-01-01T00:00:00Z" });
      socket.close();
    }
  });

  it("traffic_light_updates: zones filter zone_updates; no zones gets all", async () => {
    const marker = unique("tl");
    const all = await connect(await signToken());
    const some = await connect(await signToken({ sub: unique("zones") }));
    await all.request("subscribe", { channel: "traffic_light_updates" });
    const reply = await some.request(
      "subscribe",
      { channel: "traffic_light_updates", zones: ["red", "green"] },
      "msg_129",
    );
    expect(reply).toMatchObject({
      event: "subscribed",
      id: "msg_129",
      data: { channel: "traffic_light_updates", zones: ["green", "red"] },
    });
    await ingestOk(trafficLight({ market_conditions: { economic_outlook: marker } }));
    const mine = (frame: { event: string; data: Record<string, unknown> }) =>
      frame.event === "traffic_light_update" &&
      (frame.data.market_conditions as Record<string, string>).economic_outlook === marker;
    const full = await all.next(mine);
    const filtered = await some.next(mine);
    expect(Object.keys(full.data.zone_updates as object).sort()).toEqual(["green", "orange", "red"]);
    expect(filtered.data.zone_updates).toEqual({ green: zoneUpdates.green, red: zoneUpdates.red });
    expect(filtered.seq).toBe(full.seq);
    all.close();
    some.close();
  });

  it("stateful channels send the latest event right after subscribed", async () => {
    const sim = unique("simulation");
    await ingestOk([progress(sim, 10), progress(sim, 20)]);
    const socket = await connect(await signToken());
    const reply = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim }, "s");
    expect(reply.data.seq).toBe(2);
    const next = await socket.next();
    expect(next).toMatchObject({ event: "simulation_progress", seq: 2, data: { progress: 20 } });
    await ingestOk(progress(sim, 30));
    expect(await socket.next()).toMatchObject({ seq: 3, data: { progress: 30 } });
    socket.close();
  });

  it("traffic lights send the latest update on subscribe, filtered to the zones", async () => {
    await ingestOk(trafficLight());
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "traffic_light_updates", zones: ["orange"] });
    const latest = await socket.next();
    expect(latest.event).toBe("traffic_light_update");
    expect(Object.keys(latest.data.zone_updates as object)).toEqual(["orange"]);
    socket.close();
  });

  it("fund_updates and portfolio_updates confirm with their keys and have no latest state", async () => {
    const socket = await connect(await signToken());
    const fund = unique("fund");
    const portfolio = unique("portfolio");
    expect(await socket.request("subscribe", { channel: "fund_updates", fund_id: fund }, 1)).toEqual({
      event: "subscribed",
      data: { channel: "fund_updates", fund_id: fund, seq: 0 },
      id: 1,
    });
    expect(await socket.request("subscribe", { channel: "portfolio_updates", portfolio_id: portfolio }, 2)).toEqual({
      event: "subscribed",
      data: { channel: "portfolio_updates", portfolio_id: portfolio, seq: 0 },
      id: 2,
    });
    expect(await socket.quiet(100)).toEqual([]);
    socket.close();
  });

  it("unsubscribe stops delivery and is confirmed like the seed", async () => {
    const sim = unique("simulation");
    const socket = await connect(await signToken());
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const reply = await socket.request("unsubscribe", { channel: "simulation_updates", simulation_id: sim }, "msg_124");
    expect(reply).toEqual({
      event: "unsubscribed",
      data: { channel: "simulation_updates", simulation_id: sim },
      id: "msg_124",
    });
    await ingestOk(progress(sim, 50));
    expect(await socket.quiet(300)).toEqual([]);
    socket.close();
  });

  it("a token limited to some resources may subscribe only to those", async () => {
    const socket = await connect(await signToken({ resources: ["simulation:sim_allowed", "fund:*"] }));
    expect(
      (await socket.request("subscribe", { channel: "simulation_updates", simulation_id: "sim_allowed" })).event,
    ).toBe("subscribed");
    expect((await socket.request("subscribe", { channel: "fund_updates", fund_id: "any_fund" })).event).toBe(
      "subscribed",
    );
    const denied = await socket.request("subscribe", { channel: "gp_entity_updates", simulation_id: "sim_other" }, "d");
    expect(denied).toMatchObject({ event: "error", id: "d", data: { code: "authorization_error" } });
    expect((await socket.request("subscribe", { channel: "system_notifications" })).event).toBe("subscribed");
    socket.close();
  });
});
