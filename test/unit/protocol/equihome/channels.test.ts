import { describe, expect, it } from "vitest";
import { CHANNELS, channelSpec, isChannelName } from "../../../../src/protocol/equihome/channels";

describe("CHANNELS", () => {
  it("are the seed's six channels with the contract's key fields", () => {
    expect(CHANNELS).toEqual({
      simulation_updates: { keyField: "simulation_id", resourceType: "simulation" },
      gp_entity_updates: { keyField: "simulation_id", resourceType: "simulation" },
      portfolio_updates: { keyField: "portfolio_id", resourceType: "portfolio" },
      fund_updates: { keyField: "fund_id", resourceType: "fund" },
      system_notifications: { keyField: null, resourceType: null },
      traffic_light_updates: { keyField: null, resourceType: null },
    });
  });
});

describe("isChannelName", () => {
  it("accepts each channel", () => {
    for (const name of Object.keys(CHANNELS)) expect(isChannelName(name)).toBe(true);
  });

  it.each([["__proto__"], ["toString"], ["constructor"], ["hasOwnProperty"], [""], ["SIMULATION_UPDATES"]])(
    "refuses %j, including inherited property names",
    (name) => {
      expect(isChannelName(name)).toBe(false);
    },
  );
});

describe("channelSpec", () => {
  it("returns the spec of a channel", () => {
    expect(channelSpec("fund_updates")).toEqual({ keyField: "fund_id", resourceType: "fund" });
  });

  it("returns undefined for an unknown or inherited name", () => {
    expect(channelSpec("nope")).toBeUndefined();
    expect(channelSpec("__proto__")).toBeUndefined();
    expect(channelSpec("toString")).toBeUndefined();
  });
});
