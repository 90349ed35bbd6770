import { describe, expect, it } from "vitest";
import { filterZones } from "../../../../src/hub/json/equihome-protocol";
import { encodeServerEvent } from "../../../../src/protocol/equihome/codec";

const zoneUpdates = {
  green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: 2 },
  orange: { appreciation_rate: 0.06, default_rate: 0.045, risk_score: 5 },
  red: { appreciation_rate: 0.09, default_rate: 0.085, risk_score: 8 },
};

const trafficFrame = encodeServerEvent({
  event: "traffic_light_update",
  data: {
    timestamp: "2023-01-01T12:00:00Z",
    zone_updates: zoneUpdates,
    market_conditions: { interest_rate_environment: "rising" },
  },
  id: "evt_1",
  seq: 12,
});

describe("filterZones", () => {
  it("keeps only the subscribed zones and everything else of the event", () => {
    expect(JSON.parse(filterZones(trafficFrame, ["green", "red"]))).toEqual({
      event: "traffic_light_update",
      data: {
        timestamp: "2023-01-01T12:00:00Z",
        zone_updates: { green: zoneUpdates.green, red: zoneUpdates.red },
        market_conditions: { interest_rate_environment: "rising" },
      },
      id: "evt_1",
      seq: 12,
    });
  });

  it("still sends the event, with no zones, when none of the subscribed zones changed", () => {
    const filtered = JSON.parse(filterZones(trafficFrame, ["purple"])) as { data: unknown; seq: number };
    expect(filtered.seq).toBe(12);
    expect(filtered.data).toMatchObject({ zone_updates: {}, timestamp: "2023-01-01T12:00:00Z" });
  });

  it("keeps the frame's field order", () => {
    expect(Object.keys(JSON.parse(filterZones(trafficFrame, ["green"])) as object)).toEqual([
      "event",
      "data",
      "id",
      "seq",
    ]);
  });

  it("returns other events unchanged", () => {
    const frame = encodeServerEvent({
      event: "notification",
      data: { type: "info", message: "m", timestamp: "2023-01-01T00:00:00Z", zone_updates: { red: {} } },
      seq: 3,
    });
    expect(filterZones(frame, ["green"])).toBe(frame);
  });

  it("returns a traffic_light_update without zone_updates unchanged", () => {
    const frame = encodeServerEvent({ event: "traffic_light_update", data: { timestamp: "t" }, seq: 1 });
    expect(filterZones(frame, ["green"])).toBe(frame);
  });

  it("does not match zones by prefix", () => {
    const filtered = JSON.parse(filterZones(trafficFrame, ["gree", "re"])) as { data: { zone_updates: object } };
    expect(filtered.data.zone_updates).toEqual({});
  });
});
