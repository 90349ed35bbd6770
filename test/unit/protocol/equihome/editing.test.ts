import { describe, expect, it } from "vitest";
import {
  checkValue,
  documentName,
  EDITABLE_RESOURCES,
  isEditableResourceType,
  parsePath,
  parseResourceRef,
} from "../../../../src/protocol/equihome/editing";
import { type ErrorCode, ProtocolError } from "../../../../src/protocol/errors";
import { MAX_EDIT_VALUE_BYTES, MAX_ID_LENGTH, MAX_PATH_DEPTH } from "../../../../src/protocol/limits";

/** Runs `fn`, expects a ProtocolError with `code`, returns it for checks on its details. */
function refusal(fn: () => unknown, code: ErrorCode): ProtocolError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (!(thrown instanceof ProtocolError)) throw new Error(`expected a ProtocolError, got ${String(thrown)}`);
  expect(thrown.code).toBe(code);
  return thrown;
}

/** The `details.issue` of the invalid_message that `fn` throws. */
function issueOf(fn: () => unknown): unknown {
  return refusal(fn, "invalid_message").details?.issue;
}

/** The `details` of the invalid_message that `fn` throws. */
function detailsOf(fn: () => unknown): unknown {
  return refusal(fn, "invalid_message").details;
}

const byteLength = (text: string): number => new TextEncoder().encode(text).byteLength;

const NOT_A_PATH = { issue: "invalid_path", hint: "path must be a non-empty string" };
const badSegment = (segment: string) => ({
  issue: "invalid_path",
  segment,
  hint: `path segment "${segment}" must match [a-z_][a-z0-9_]*`,
});

describe("parsePath", () => {
  it("splits valid paths into their segments", () => {
    expect(parsePath("fee_structure.management_fee_rate")).toEqual(["fee_structure", "management_fee_rate"]);
    expect(parsePath("name")).toEqual(["name"]);
    expect(parsePath("_")).toEqual(["_"]);
    expect(parsePath("_private.__double_lead")).toEqual(["_private", "__double_lead"]);
    expect(parsePath("a1.b_2.c3_d4")).toEqual(["a1", "b_2", "c3_d4"]);
    expect(parsePath("proto.constructors.prototypes")).toEqual(["proto", "constructors", "prototypes"]);
  });

  it(`accepts a path of exactly ${MAX_PATH_DEPTH} segments and refuses ${MAX_PATH_DEPTH + 1}`, () => {
    expect(MAX_PATH_DEPTH).toBe(8);
    const deepest = Array.from({ length: MAX_PATH_DEPTH }, (_, i) => `s${i}`);
    expect(parsePath(deepest.join("."))).toEqual(deepest);
    expect(detailsOf(() => parsePath([...deepest, "one_more"].join(".")))).toEqual({
      issue: "path_too_deep",
      limit: MAX_PATH_DEPTH,
      hint: `path is deeper than ${MAX_PATH_DEPTH} segments`,
    });
  });

  it("refuses the empty path", () => {
    expect(detailsOf(() => parsePath(""))).toEqual(NOT_A_PATH);
  });

  it("refuses empty segments: leading, trailing and double dots, a lone dot", () => {
    for (const path of [".a", "a.", "a..b", ".", "a.b."]) {
      expect(
        detailsOf(() => parsePath(path)),
        path,
      ).toEqual(badSegment(""));
    }
  });

  it("refuses uppercase letters", () => {
    expect(detailsOf(() => parsePath("Fee"))).toEqual(badSegment("Fee"));
    expect(detailsOf(() => parsePath("fee.managementFee"))).toEqual(badSegment("managementFee"));
  });

  it("refuses a segment starting with a digit", () => {
    expect(detailsOf(() => parsePath("1st"))).toEqual(badSegment("1st"));
    expect(detailsOf(() => parsePath("rates.0"))).toEqual(badSegment("0"));
  });

  it("refuses other characters: dashes, spaces, brackets, non-ASCII, control characters", () => {
    for (const [path, segment] of [
      ["fee-rate", "fee-rate"],
      ["fee rate", "fee rate"],
      ["a.b[0]", "b[0]"],
      ["café", "café"],
      ["a.b\n", "b\n"],
      [" a", " a"],
    ] as const) {
      expect(
        detailsOf(() => parsePath(path)),
        JSON.stringify(path),
      ).toEqual(badSegment(segment));
    }
  });

  it("refuses __proto__, constructor and prototype anywhere in the path", () => {
    for (const forbidden of ["__proto__", "constructor", "prototype"]) {
      for (const path of [forbidden, `a.${forbidden}`, `a.${forbidden}.b`, `${forbidden}.b`]) {
        expect(
          detailsOf(() => parsePath(path)),
          path,
        ).toEqual({ issue: "forbidden_key", key: forbidden, hint: `path segment "${forbidden}" is not allowed` });
      }
    }
  });

  it("refuses anything that is not a string", () => {
    for (const path of [undefined, null, 5, true, ["a", "b"], { a: 1 }]) {
      expect(
        detailsOf(() => parsePath(path)),
        JSON.stringify(path),
      ).toEqual(NOT_A_PATH);
    }
  });
});

describe("checkValue", () => {
  /** A JSON string value whose encoding (with its quotes) is exactly `bytes` UTF-8 bytes. */
  function stringOfJsonBytes(bytes: number, unit: string): string {
    const unitBytes = byteLength(unit);
    const count = Math.floor((bytes - 2) / unitBytes);
    const value = unit.repeat(count) + "a".repeat(bytes - 2 - count * unitBytes);
    expect(byteLength(JSON.stringify(value))).toBe(bytes);
    return value;
  }

  it(`accepts a value whose JSON is exactly ${MAX_EDIT_VALUE_BYTES} bytes and refuses one byte more`, () => {
    expect(MAX_EDIT_VALUE_BYTES).toBe(16 * 1024);
    expect(() => checkValue(stringOfJsonBytes(MAX_EDIT_VALUE_BYTES, "a"))).not.toThrow();
    const error = refusal(() => checkValue(stringOfJsonBytes(MAX_EDIT_VALUE_BYTES + 1, "a")), "invalid_message");
    expect(error.details).toEqual({ issue: "value_too_large", limit: MAX_EDIT_VALUE_BYTES });
  });

  it("counts UTF-8 bytes, not characters, at the edge (2-, 3- and 4-byte characters)", () => {
    for (const unit of ["é", "€", "😀"]) {
      const fits = stringOfJsonBytes(MAX_EDIT_VALUE_BYTES, unit);
      const over = stringOfJsonBytes(MAX_EDIT_VALUE_BYTES + 1, unit);
      // Far fewer UTF-16 units than bytes: a character count would accept both.
      expect(JSON.stringify(over).length).toBeLessThan(MAX_EDIT_VALUE_BYTES);
      expect(() => checkValue(fits), unit).not.toThrow();
      expect(
        issueOf(() => checkValue(over)),
        unit,
      ).toBe("value_too_large");
    }
  });

  it("measures objects and arrays by their JSON encoding", () => {
    const wrapper = '{"note":""}';
    const note = "x".repeat(MAX_EDIT_VALUE_BYTES - wrapper.length);
    expect(() => checkValue({ note })).not.toThrow();
    expect(issueOf(() => checkValue({ note: `${note}x` }))).toBe("value_too_large");
    const items = Array.from({ length: MAX_EDIT_VALUE_BYTES }, () => 1); // "[1,1,…]" is 2n+1 bytes
    expect(issueOf(() => checkValue(items))).toBe("value_too_large");
  });

  it("refuses undefined (a missing value)", () => {
    expect(detailsOf(() => checkValue(undefined))).toEqual({
      issue: "missing_field",
      field: "value",
      hint: "Missing value",
    });
  });

  it("accepts null, arrays, objects and other JSON values", () => {
    for (const value of [null, [], {}, [1, "two", null], { a: { b: [true] } }, 0, -1.5, false, ""]) {
      expect(() => checkValue(value), JSON.stringify(value)).not.toThrow();
    }
  });
});

describe("parseResourceRef", () => {
  it("accepts fund and portfolio, returning only the two fields", () => {
    expect(parseResourceRef({ resource_type: "fund", resource_id: "fund_123", extra: 1 })).toEqual({
      resource_type: "fund",
      resource_id: "fund_123",
    });
    expect(parseResourceRef({ resource_type: "portfolio", resource_id: "p-9" })).toEqual({
      resource_type: "portfolio",
      resource_id: "p-9",
    });
  });

  it("refuses an unknown resource type with resource_not_found", () => {
    for (const type of ["simulation", "Fund", "", "funds"]) {
      const error = refusal(() => parseResourceRef({ resource_type: type, resource_id: "x" }), "resource_not_found");
      expect(error.details?.resource_type, type).toBe(type);
    }
  });

  it("does not take Object.prototype keys for resource types", () => {
    for (const type of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      refusal(() => parseResourceRef({ resource_type: type, resource_id: "x" }), "resource_not_found");
      expect(isEditableResourceType(type), type).toBe(false);
    }
  });

  it("refuses a missing or non-string resource_type as invalid_message", () => {
    for (const type of [undefined, null, 1, ["fund"]]) {
      expect(
        detailsOf(() => parseResourceRef({ resource_type: type, resource_id: "x" })),
        String(type),
      ).toEqual({ issue: "missing_field", field: "resource_type", hint: "Missing resource_type" });
    }
  });

  it("refuses bad resource ids as invalid_message", () => {
    for (const id of [undefined, null, "", 123, "a\nb", "tab\there", "del\u007f", "x".repeat(MAX_ID_LENGTH + 1), {}]) {
      expect(
        detailsOf(() => parseResourceRef({ resource_type: "fund", resource_id: id })),
        JSON.stringify(id),
      ).toEqual({ issue: "invalid_field", field: "resource_id", hint: "Invalid resource_id" });
    }
  });

  it(`accepts an id of exactly ${MAX_ID_LENGTH} characters`, () => {
    const id = "x".repeat(MAX_ID_LENGTH);
    expect(parseResourceRef({ resource_type: "portfolio", resource_id: id }).resource_id).toBe(id);
  });

  it("maps each editable type to its updates channel", () => {
    expect(EDITABLE_RESOURCES.fund.channel).toBe("fund_updates");
    expect(EDITABLE_RESOURCES.portfolio.channel).toBe("portfolio_updates");
    expect(Object.keys(EDITABLE_RESOURCES).sort()).toEqual(["fund", "portfolio"]);
  });
});

describe("documentName", () => {
  it("is type:id", () => {
    expect(documentName({ resource_type: "fund", resource_id: "fund_123" })).toBe("fund:fund_123");
    expect(documentName({ resource_type: "portfolio", resource_id: "p:1" })).toBe("portfolio:p:1");
  });

  it("tells resources of different types apart", () => {
    expect(documentName({ resource_type: "fund", resource_id: "x" })).not.toBe(
      documentName({ resource_type: "portfolio", resource_id: "x" }),
    );
  });
});
