import { describe, expect, it } from "vitest";
import { CHANNELS } from "../../../src/protocol/equihome/channels";
import { isStatefulChannel, parseTopicName, topicName } from "../../../src/protocol/topics";

describe("topicName", () => {
  it("joins channel and key with a colon", () => {
    expect(topicName({ channel: "simulation_updates", key: "simulation_789" })).toBe(
      "simulation_updates:simulation_789",
    );
  });

  it("is the bare channel for a channel without key", () => {
    expect(topicName({ channel: "system_notifications", key: null })).toBe("system_notifications");
  });

  it("gives different names to the same key on different channels", () => {
    expect(topicName({ channel: "simulation_updates", key: "s" })).not.toBe(
      topicName({ channel: "gp_entity_updates", key: "s" }),
    );
  });
});

describe("parseTopicName", () => {
  it("splits a keyed name at the first colon", () => {
    expect(parseTopicName("fund_updates:fund_123")).toEqual({ channel: "fund_updates", key: "fund_123" });
  });

  it("reads a bare channel as having no key", () => {
    expect(parseTopicName("traffic_light_updates")).toEqual({ channel: "traffic_light_updates", key: null });
  });

  it("keeps colons inside the key", () => {
    expect(parseTopicName("fund_updates:a:b:c")).toEqual({ channel: "fund_updates", key: "a:b:c" });
  });

  it.each([
    { channel: "simulation_updates", key: "simulation_789" },
    { channel: "fund_updates", key: "urn:fund:123" },
    { channel: "portfolio_updates", key: "" },
    { channel: "portfolio_updates", key: "é ü 😀" },
    { channel: "system_notifications", key: null },
  ])("inverts topicName for %j", (topic) => {
    expect(parseTopicName(topicName(topic))).toEqual(topic);
  });

  it("inverts topicName for every channel", () => {
    for (const channel of Object.keys(CHANNELS)) {
      expect(parseTopicName(topicName({ channel, key: "k:1" }))).toEqual({ channel, key: "k:1" });
      expect(parseTopicName(topicName({ channel, key: null }))).toEqual({ channel, key: null });
    }
  });
});

describe("isStatefulChannel", () => {
  it.each([["simulation_updates"], ["gp_entity_updates"], ["traffic_light_updates"]])(
    "%s has a latest state sent after subscribing",
    (channel) => {
      expect(isStatefulChannel(channel)).toBe(true);
    },
  );

  it.each([["fund_updates"], ["portfolio_updates"], ["system_notifications"], ["unknown"], [""], ["__proto__"]])(
    "%s has no latest state",
    (channel) => {
      expect(isStatefulChannel(channel)).toBe(false);
    },
  );
});
