import { describe, expect, it } from "vitest";
import { applyUpdate, type JsonObject } from "../../../client/src/document";

describe("applyUpdate", () => {
  it("sets a leaf, creating the maps along its path", () => {
    const document: JsonObject = { name: "Fund I" };
    applyUpdate(document, "fee_structure.management_fee_rate", 0.02);
    applyUpdate(document, "fee_structure.carried_interest", 0.2);
    expect(document).toEqual({ name: "Fund I", fee_structure: { management_fee_rate: 0.02, carried_interest: 0.2 } });
  });

  it("replaces a whole subtree with a value", () => {
    const document: JsonObject = { a: { b: 1 } };
    applyUpdate(document, "a", [1, 2]);
    expect(document).toEqual({ a: [1, 2] });
  });

  it("deletes a key for deleted: true, and ignores a deletion below a missing map", () => {
    const document: JsonObject = { a: { b: 1, c: 2 } };
    applyUpdate(document, "a.b", null, true);
    applyUpdate(document, "x.y", null, true);
    expect(document).toEqual({ a: { c: 2 } });
  });
});
