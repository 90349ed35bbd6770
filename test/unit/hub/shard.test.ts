import { describe, expect, it } from "vitest";
import { fnv1a, hubPlacement, parseShardCount } from "../../../src/hub/shard";

describe("fnv1a", () => {
  it.each([
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968],
  ])("hashes %j to the published FNV-1a 32-bit value", (text, hash) => {
    expect(fnv1a(text)).toBe(hash);
  });

  it("returns an unsigned 32-bit integer", () => {
    for (const text of ["user-1", "é", "😀", "x".repeat(1000)]) {
      const hash = fnv1a(text);
      expect(Number.isInteger(hash)).toBe(true);
      expect(hash).toBeGreaterThanOrEqual(0);
      expect(hash).toBeLessThan(2 ** 32);
    }
  });

  it("is stable for the same input and differs for close inputs", () => {
    expect(fnv1a("user-1")).toBe(fnv1a("user-1"));
    expect(fnv1a("user-1")).not.toBe(fnv1a("user-2"));
  });
});

describe("parseShardCount", () => {
  it.each([
    ["1", 1],
    ["4", 4],
    ["1024", 1024],
  ])("reads %j as %d", (value, count) => {
    expect(parseShardCount(value)).toBe(count);
  });

  it.each([[undefined], [""], ["0"], ["-1"], ["1025"], ["2.5"], ["abc"], ["NaN"], ["Infinity"]])(
    "falls back to 8 for %j",
    (value) => {
      expect(parseShardCount(value)).toBe(8);
    },
  );
});

describe("hubPlacement", () => {
  it.each([
    ["NA", "enam"],
    ["SA", "sam"],
    ["EU", "weur"],
    ["AF", "afr"],
    ["AS", "apac"],
    ["OC", "oc"],
    ["AN", "oc"],
  ])("places continent %s in region %s with that location hint", (continent, region) => {
    const placement = hubPlacement("user-1", continent, 8);
    expect(placement.locationHint).toBe(region);
    expect(placement.name).toMatch(new RegExp(`^hub:${region}:[0-7]$`));
  });

  it("uses the local region and no hint without a continent", () => {
    const placement = hubPlacement("user-1", undefined, 8);
    expect(placement.locationHint).toBeUndefined();
    expect(placement.name).toMatch(/^hub:local:[0-7]$/);
  });

  it("uses the local region and no hint for an unknown continent", () => {
    for (const continent of ["XX", "", "eu", "T1"]) {
      const placement = hubPlacement("user-1", continent, 8);
      expect(placement.locationHint).toBeUndefined();
      expect(placement.name).toMatch(/^hub:local:[0-7]$/);
    }
  });

  // Regression (fixed in hubPlacement): CONTINENT_HINTS is a plain object literal, so a continent
  // spelled like an Object.prototype member reads the inherited member: "toString" yields a function
  // as location hint and a hub named "hub:function toString() { [native code] }:n".
  it.each([["toString"], ["__proto__"], ["constructor"], ["hasOwnProperty"]])(
    "treats the inherited property name %j as an unknown continent",
    (continent) => {
      const placement = hubPlacement("user-1", continent, 8);
      expect(placement.locationHint).toBeUndefined();
      expect(placement.name).toMatch(/^hub:local:[0-7]$/);
    },
  );

  it("chooses the shard from the user's hash", () => {
    expect(hubPlacement("user-1", "EU", 8).name).toBe(`hub:weur:${fnv1a("user-1") % 8}`);
  });

  it("puts all of one user's sockets on the same hub", () => {
    expect(hubPlacement("user-42", "NA", 16)).toEqual(hubPlacement("user-42", "NA", 16));
  });

  it("has a single shard 0 when there is one shard", () => {
    for (let i = 0; i < 50; i++) expect(hubPlacement(`user-${i}`, "EU", 1).name).toBe("hub:weur:0");
  });

  it("spreads users over every shard", () => {
    const shards = 8;
    const counts = new Array<number>(shards).fill(0);
    for (let i = 0; i < 4000; i++) {
      const shard = Number(hubPlacement(`user-${i}`, undefined, shards).name.split(":")[2]);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const count of counts) {
      expect(count).toBeGreaterThan(300);
      expect(count).toBeLessThan(700);
    }
  });
});
