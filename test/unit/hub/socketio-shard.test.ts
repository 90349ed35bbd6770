import { describe, expect, it } from "vitest";
import {
  hubPlacement,
  isSocketIoHub,
  MAX_HUB_SHARDS,
  newSessionId,
  parseShardCount,
  sioHubOfSessionId,
  socketIoHubPlacement,
} from "../../../src/hub/shard";

/** Every region a hub can be in: the continents' location hints and `local`. */
const REGIONS = ["enam", "sam", "weur", "afr", "apac", "oc", "local"] as const;

const CONTINENTS: [string, string][] = [
  ["NA", "enam"],
  ["SA", "sam"],
  ["EU", "weur"],
  ["AF", "afr"],
  ["AS", "apac"],
  ["OC", "oc"],
  ["AN", "oc"],
];

/** A well-formed random part: 24 URL-safe base64 characters. */
const RANDOM = "AbCdEfGhIjKlMnOpQrStUv-_";

describe("isSocketIoHub", () => {
  it.each(["sio:weur:0", "sio:local:7", "sio:"])("knows %j as a Socket.IO hub", (name) => {
    expect(isSocketIoHub(name)).toBe(true);
  });

  it.each(["hub:weur:0", "hub:local:7", "", "sio", "SIO:weur:0", "xsio:weur:0", " sio:weur:0"])(
    "does not take %j for a Socket.IO hub",
    (name) => {
      expect(isSocketIoHub(name)).toBe(false);
    },
  );

  it("holds for every Socket.IO placement and no JSON-protocol placement", () => {
    for (const [continent] of CONTINENTS) {
      expect(isSocketIoHub(socketIoHubPlacement(continent, 8, 0.5).name)).toBe(true);
      expect(isSocketIoHub(hubPlacement("user-1", continent, 8).name)).toBe(false);
    }
  });
});

describe("socketIoHubPlacement", () => {
  it.each(CONTINENTS)("places continent %s in region %s with that location hint", (continent, region) => {
    const placement = socketIoHubPlacement(continent, 8, 0.3);
    expect(placement).toEqual({ name: `sio:${region}:2`, locationHint: region });
  });

  it.each([[undefined], ["XX"], [""], ["eu"], ["toString"], ["__proto__"], ["constructor"]])(
    "uses the local region and no hint for continent %j",
    (continent) => {
      expect(socketIoHubPlacement(continent, 8, 0.3)).toEqual({ name: "sio:local:2", locationHint: undefined });
    },
  );

  it("takes the shard from the random argument: floor(random * shards)", () => {
    expect(socketIoHubPlacement("EU", 8, 0).name).toBe("sio:weur:0");
    expect(socketIoHubPlacement("EU", 8, 0.124).name).toBe("sio:weur:0");
    expect(socketIoHubPlacement("EU", 8, 0.125).name).toBe("sio:weur:1");
    expect(socketIoHubPlacement("EU", 8, 0.5).name).toBe("sio:weur:4");
    expect(socketIoHubPlacement("EU", 8, 0.999999).name).toBe("sio:weur:7");
    expect(socketIoHubPlacement("EU", 8, 1 - Number.EPSILON).name).toBe("sio:weur:7");
  });

  it("stays below shards even for random = 1", () => {
    expect(socketIoHubPlacement("EU", 8, 1).name).toBe("sio:weur:0");
  });

  it("is deterministic given the random argument", () => {
    for (let i = 0; i < 100; i++) {
      const random = i / 100;
      expect(socketIoHubPlacement("AS", 16, random)).toEqual(socketIoHubPlacement("AS", 16, random));
    }
  });

  it("has a single shard 0 when there is one shard", () => {
    for (let i = 0; i < 50; i++) expect(socketIoHubPlacement("NA", 1, i / 50).name).toBe("sio:enam:0");
  });

  it("spreads evenly spaced random values over every shard equally", () => {
    for (const shards of [1, 2, 3, 8, 16, 1024]) {
      const counts = new Map<number, number>();
      const samples = shards * 10;
      for (let i = 0; i < samples; i++) {
        const shard = Number(socketIoHubPlacement(undefined, shards, (i + 0.5) / samples).name.split(":")[2]);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(shards);
        counts.set(shard, (counts.get(shard) ?? 0) + 1);
      }
      expect(counts.size).toBe(shards);
      for (const count of counts.values()) expect(count).toBe(10);
    }
  });

  it("spreads Math.random over every shard", () => {
    const shards = 8;
    const counts = new Array<number>(shards).fill(0);
    for (let i = 0; i < 4000; i++) {
      const shard = Number(socketIoHubPlacement("EU", shards, Math.random()).name.split(":")[2]);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const count of counts) {
      expect(count).toBeGreaterThan(300);
      expect(count).toBeLessThan(700);
    }
  });
});

describe("newSessionId / sioHubOfSessionId", () => {
  it.each(REGIONS)("round-trips a session id of every shard in region %s", (region) => {
    for (const shard of [0, 1, 2, 3, 7, 15, 99, 1023]) {
      const hub = `sio:${region}:${shard}`;
      const sid = newSessionId(hub);
      expect(sid.startsWith(`${region}.${shard}.`)).toBe(true);
      expect(sioHubOfSessionId(sid, MAX_HUB_SHARDS)).toBe(hub);
      expect(sioHubOfSessionId(sid, 1024)).toBe(hub);
      expect(sioHubOfSessionId(sid, shard + 1)).toBe(hub);
    }
  });

  it.each(CONTINENTS)("round-trips every shard placed for continent %s", (continent) => {
    const shards = 8;
    for (let shard = 0; shard < shards; shard++) {
      const { name } = socketIoHubPlacement(continent, shards, shard / shards);
      expect(sioHubOfSessionId(newSessionId(name), shards)).toBe(name);
    }
  });

  it("round-trips the local region's placement", () => {
    const { name } = socketIoHubPlacement(undefined, 4, 0.9);
    expect(name).toBe("sio:local:3");
    expect(sioHubOfSessionId(newSessionId(name), 4)).toBe(name);
  });

  it("makes ids that are safe in a URL query and a cookie, with a 24-character random part", () => {
    for (let i = 0; i < 200; i++) {
      const sid = newSessionId("sio:apac:5");
      expect(sid).toMatch(/^apac\.5\.[A-Za-z0-9_-]{24}$/);
      expect(encodeURIComponent(sid)).toBe(sid);
    }
  });

  it("makes a different id each time", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSessionId("sio:weur:0")));
    expect(ids.size).toBe(1000);
  });

  it(`accepts at most MAX_HUB_SHARDS (${MAX_HUB_SHARDS}) shards, the most parseShardCount allows`, () => {
    expect(sioHubOfSessionId(`weur.1023.${RANDOM}`, MAX_HUB_SHARDS)).toBe("sio:weur:1023");
    expect(sioHubOfSessionId(`weur.1024.${RANDOM}`, MAX_HUB_SHARDS)).toBeNull();
    expect(sioHubOfSessionId(`weur.1024.${RANDOM}`, 5000)).toBeNull();
    expect(parseShardCount(String(MAX_HUB_SHARDS))).toBe(MAX_HUB_SHARDS);
  });

  it("refuses a shard >= shards", () => {
    expect(sioHubOfSessionId(`weur.3.${RANDOM}`, 4)).toBe("sio:weur:3");
    expect(sioHubOfSessionId(`weur.4.${RANDOM}`, 4)).toBeNull();
    expect(sioHubOfSessionId(`weur.5.${RANDOM}`, 4)).toBeNull();
    expect(sioHubOfSessionId(`weur.0.${RANDOM}`, 1)).toBe("sio:weur:0");
    expect(sioHubOfSessionId(`weur.1.${RANDOM}`, 1)).toBeNull();
    expect(sioHubOfSessionId(newSessionId("sio:local:8"), 8)).toBeNull();
  });

  it.each([
    ["wnam"], // a real location hint, but no continent maps to it
    ["eeur"],
    ["me"],
    ["hub"],
    ["sio"],
    ["europe"],
    ["local-eu"],
    ["-"],
  ])("refuses the unknown region %j", (region) => {
    expect(sioHubOfSessionId(`${region}.0.${RANDOM}`, MAX_HUB_SHARDS)).toBeNull();
  });

  it.each([
    ["empty", ""],
    ["a UUID (Socket.IO's own sid shape)", "3f1c2b4a-6d7e-4f80-9a1b-2c3d4e5f6a7b"],
    ["an engine.io server sid", "FSDjX-WRwSA4zTZMALqx"],
    ["no random part", "weur.0."],
    ["no random part or dot", "weur.0"],
    ["a random part of 15 characters", `weur.0.${"A".repeat(15)}`],
    ["a random part of 65 characters", `weur.0.${"A".repeat(65)}`],
    ["a random part with +", `weur.0.${RANDOM.slice(0, -1)}+`],
    ["a random part with /", `weur.0.${RANDOM.slice(0, -1)}/`],
    ["a random part with padding", `weur.0.${RANDOM}==`],
    ["a random part with a dot", `weur.0.${RANDOM}.x`],
    ["a shard of five digits", `weur.00001.${RANDOM}`],
    ["a negative shard", `weur.-1.${RANDOM}`],
    ["a fractional shard", `weur.1.5.${RANDOM}`],
    ["a letter shard", `weur.a.${RANDOM}`],
    ["an empty shard", `weur..${RANDOM}`],
    ["an empty region", `.0.${RANDOM}`],
    ["an uppercase region", `WEUR.0.${RANDOM}`],
    ["colons instead of dots", `weur:0:${RANDOM}`],
    ["a hub name", "sio:weur:0"],
    ["leading whitespace", ` weur.0.${RANDOM}`],
    ["trailing whitespace", `weur.0.${RANDOM} `],
    ["a trailing newline", `weur.0.${RANDOM}\n`],
    ["a URL-encoded id", encodeURIComponent(`weur.0.${RANDOM}`).replace(".", "%2E")],
  ])("refuses a foreign or garbled id (%s)", (_label, sid) => {
    expect(sioHubOfSessionId(sid, MAX_HUB_SHARDS)).toBeNull();
  });

  it("refuses region names spelled like Object.prototype members", () => {
    for (const region of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
      expect(sioHubOfSessionId(`${region.toLowerCase()}.0.${RANDOM}`, MAX_HUB_SHARDS)).toBeNull();
    }
  });

  it("names the canonical hub for a shard with leading zeros", () => {
    expect(sioHubOfSessionId(`weur.007.${RANDOM}`, MAX_HUB_SHARDS)).toBe("sio:weur:7");
  });

  it("accepts random parts of 16 to 64 URL-safe characters", () => {
    expect(sioHubOfSessionId(`oc.2.${"A".repeat(16)}`, MAX_HUB_SHARDS)).toBe("sio:oc:2");
    expect(sioHubOfSessionId(`oc.2.${"z_-9".repeat(16)}`, MAX_HUB_SHARDS)).toBe("sio:oc:2");
  });
});
