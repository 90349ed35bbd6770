import { describe, expect, it } from "vitest";
import {
  DEDUPE_WINDOW_MS,
  MAX_INGEST_BATCH,
  MAX_RATE_REFUSALS,
  MESSAGE_BURST,
  MESSAGES_PER_SECOND,
  TOPIC_HISTORY_LIMIT,
} from "../../../src/protocol/limits";

describe("limits fixed by the contract", () => {
  it("an ingest batch holds up to 100 events", () => {
    expect(MAX_INGEST_BATCH).toBe(100);
  });

  it("topics keep at least the last 1,000 events for since_seq recovery", () => {
    expect(TOPIC_HISTORY_LIMIT).toBeGreaterThanOrEqual(1000);
  });

  it("ingest ids are remembered for at least 10 minutes", () => {
    expect(DEDUPE_WINDOW_MS).toBeGreaterThanOrEqual(10 * 60 * 1000);
  });
});

describe("limits that must agree with each other", () => {
  it("the burst is at least one second of sustained rate", () => {
    expect(MESSAGE_BURST).toBeGreaterThanOrEqual(MESSAGES_PER_SECOND);
  });

  it("a socket is closed for rate only after more refusals than a full burst", () => {
    expect(MAX_RATE_REFUSALS).toBeGreaterThan(MESSAGE_BURST);
  });
});
