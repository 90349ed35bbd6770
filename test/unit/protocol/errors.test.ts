import { describe, expect, it } from "vitest";
import {
  CLOSE_CODES,
  ERROR_CODES,
  type ErrorCode,
  ISSUE_CODES,
  isIssueCode,
  issueDetails,
  ProtocolError,
} from "../../../src/protocol/errors";

describe("ERROR_CODES", () => {
  it("are exactly the seed's seven error codes", () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual(
      [
        "authentication_error",
        "authorization_error",
        "invalid_message",
        "invalid_event",
        "invalid_subscription",
        "resource_not_found",
        "server_error",
      ].sort(),
    );
  });
});

describe("ProtocolError", () => {
  it.each([
    ["authentication_error", 401],
    ["authorization_error", 403],
    ["invalid_message", 400],
    ["invalid_event", 400],
    ["invalid_subscription", 400],
    ["resource_not_found", 404],
    ["server_error", 500],
  ] as [ErrorCode, number][])("%s maps to HTTP %d", (code, status) => {
    const error = new ProtocolError(code, "m");
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
  });

  it("takes an explicit status over the code's (413 for a payload too large)", () => {
    expect(new ProtocolError("invalid_message", "too big", { status: 413 }).status).toBe(413);
  });

  it("is an Error named ProtocolError with its message", () => {
    const error = new ProtocolError("server_error", "Internal server error");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ProtocolError");
    expect(error.message).toBe("Internal server error");
  });

  it("carries details, or undefined without them", () => {
    expect(new ProtocolError("invalid_event", "m", { details: { event: "x" } }).details).toEqual({ event: "x" });
    expect(new ProtocolError("invalid_event", "m").details).toBeUndefined();
  });

  it("keeps the cause only when one is given", () => {
    const cause = new Error("root");
    expect(new ProtocolError("server_error", "m", { cause }).cause).toBe(cause);
    expect("cause" in new ProtocolError("server_error", "m")).toBe(false);
  });
});

describe("CLOSE_CODES", () => {
  it("closes an expired or missing token with 4401, as the contract says", () => {
    expect(CLOSE_CODES.authentication_failed).toBe(4401);
  });

  it("closes an oversized frame with 1009 and a rate violation with 1008 (RFC 6455)", () => {
    expect(CLOSE_CODES.message_too_big).toBe(1009);
    expect(CLOSE_CODES.policy_violation).toBe(1008);
  });

  it("uses only codes a server may send: RFC 6455 codes other than the reserved ones, or 3000-4999", () => {
    const reserved = new Set([1004, 1005, 1006, 1015]);
    for (const code of Object.values(CLOSE_CODES)) {
      const standard = code >= 1000 && code <= 1014 && !reserved.has(code);
      const registeredOrPrivate = code >= 3000 && code <= 4999;
      expect(standard || registeredOrPrivate, `close code ${code}`).toBe(true);
    }
  });

  it("gives every close code one meaning", () => {
    const codes = Object.values(CLOSE_CODES);
    expect(new Set(codes).size).toBe(codes.length);
  });
});

describe("ISSUE_CODES", () => {
  it("are stable snake_case codes, each under error codes of the seed", () => {
    for (const [issue, codes] of Object.entries(ISSUE_CODES)) {
      expect(issue).toMatch(/^[a-z]+(_[a-z]+)*$/);
      for (const code of codes) expect(Object.keys(ERROR_CODES), issue).toContain(code);
    }
  });

  it("tells codes from sentences and from Object.prototype keys", () => {
    expect(isIssueCode("missing_field")).toBe(true);
    expect(isIssueCode("Missing simulation_id")).toBe(false);
    expect(isIssueCode("constructor")).toBe(false);
  });

  it("builds details with the issue first", () => {
    expect(Object.keys(issueDetails("subscription_limit", { limit: 100 }))).toEqual(["issue", "limit"]);
  });
});
