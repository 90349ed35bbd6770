import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import {
  changedLeaves,
  checkPathFree,
  documentJson,
  type LeafChange,
  ROOT_MAP,
  rootMap,
  setPath,
} from "../../../src/document/doc-model";
import { ProtocolError } from "../../../src/protocol/errors";

/** Records what the document reports: changedLeaves per transaction, and every update emitted. */
function watch(doc: Y.Doc): { leaves: LeafChange[][]; updates: { update: Uint8Array; origin: unknown }[] } {
  const leaves: LeafChange[][] = [];
  const updates: { update: Uint8Array; origin: unknown }[] = [];
  rootMap(doc).observeDeep((events) => leaves.push(changedLeaves(events)));
  doc.on("update", (update: Uint8Array, origin: unknown) => updates.push({ update, origin }));
  return { leaves, updates };
}

function asMap(value: unknown): Y.Map<unknown> {
  if (!(value instanceof Y.Map)) throw new Error(`expected a Y.Map, got ${JSON.stringify(value)}`);
  return value;
}

function invalidPathDetails(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(error.code).toBe("invalid_message");
    return error.details;
  }
  throw new Error("expected a ProtocolError");
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * What a JSON-protocol editor holds after applying each reported leaf in order, the way the
 * contract describes `resource_updated`: set the value at the path, or remove it when deleted.
 */
function applyToMirror(mirror: Json, changes: LeafChange[]): void {
  for (const change of changes) {
    const segments = change.path.split(".");
    const leaf = segments.pop();
    if (leaf === undefined) throw new Error("empty path");
    let node = mirror;
    for (const segment of segments) {
      const next = node[segment];
      if (!isObject(next)) {
        if (change.deleted) return;
        node[segment] = {};
      }
      node = node[segment] as Json;
    }
    if (change.deleted) delete node[leaf];
    else node[leaf] = structuredClone(change.value);
  }
}

/** A doc whose reported leaves are mirrored as a JSON editor would, to compare with the doc. */
function mirrored(doc: Y.Doc): { mirror: Json; leaves: LeafChange[][] } {
  const mirror: Json = documentJson(doc);
  const leaves: LeafChange[][] = [];
  rootMap(doc).observeDeep((events) => {
    const changes = changedLeaves(events);
    leaves.push(changes);
    applyToMirror(mirror, changes);
  });
  return { mirror, leaves };
}

/** Sends every update of `from` to `to` (one direction). */
function connect(from: Y.Doc, to: Y.Doc): void {
  from.on("update", (update: Uint8Array, origin: unknown) => {
    if (origin !== "remote") Y.applyUpdate(to, update, "remote");
  });
}

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)), "remote");
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)), "remote");
}

describe("setPath", () => {
  it('creates nested Y.Maps under the root map "data", as the contract says', () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    expect(ROOT_MAP).toBe("data");
    const feeStructure = doc.getMap("data").get("fee_structure");
    expect(feeStructure).toBeInstanceOf(Y.Map);
    expect(asMap(feeStructure).get("management_fee_rate")).toBe(0.02);
    expect(documentJson(doc)).toEqual({ fee_structure: { management_fee_rate: 0.02 } });
  });

  it("creates one map per segment down to the deepest allowed path", () => {
    const doc = new Y.Doc();
    const segments = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "leaf"];
    setPath(doc, segments, "deep", "test");
    let map = doc.getMap("data");
    for (const segment of segments.slice(0, -1)) map = asMap(map.get(segment));
    expect(map.get("leaf")).toBe("deep");
  });

  it("sets a top-level leaf directly on the root map", () => {
    const doc = new Y.Doc();
    setPath(doc, ["name"], "Fund I", "test");
    expect(doc.getMap("data").get("name")).toBe("Fund I");
  });

  it("writes in one transaction, emitting one update with the given origin", () => {
    const doc = new Y.Doc();
    const { updates, leaves } = watch(doc);
    const origin = { kind: "json" };
    setPath(doc, ["a", "b", "c"], 1, origin);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.origin).toBe(origin);
    expect(leaves).toHaveLength(1);
  });

  it("reuses existing maps on the way, keeping their other leaves", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    const feeStructure = doc.getMap("data").get("fee_structure");
    setPath(doc, ["fee_structure", "carry"], 0.2, "test");
    expect(doc.getMap("data").get("fee_structure")).toBe(feeStructure);
    expect(documentJson(doc)).toEqual({ fee_structure: { management_fee_rate: 0.02, carry: 0.2 } });
  });

  it("overwrites an existing leaf", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.025, "test");
    expect(documentJson(doc)).toEqual({ fee_structure: { management_fee_rate: 0.025 } });
    setPath(doc, ["fee_structure", "management_fee_rate"], null, "test");
    expect(documentJson(doc)).toEqual({ fee_structure: { management_fee_rate: null } });
  });

  it("replaces a whole map when a value is set at its path", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(doc, ["fee_structure"], "none", "test");
    expect(documentJson(doc)).toEqual({ fee_structure: "none" });
  });

  it("stores objects and arrays as JSON leaves, not as nested Yjs types", () => {
    const doc = new Y.Doc();
    const terms = { tiers: [{ upto: 1_000_000, rate: 0.02 }, { rate: 0.015 }], notes: { en: "x" } };
    setPath(doc, ["terms"], terms, "test");
    setPath(doc, ["tags"], ["core", "eu"], "test");
    const stored = doc.getMap("data").get("terms");
    expect(stored).not.toBeInstanceOf(Y.AbstractType);
    expect(stored).toEqual(terms);
    expect(doc.getMap("data").get("tags")).not.toBeInstanceOf(Y.AbstractType);
    expect(documentJson(doc)).toEqual({ terms, tags: ["core", "eu"] });
  });

  it("refuses a path through an existing leaf without touching the doc", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(doc, ["name"], "Fund I", "test");
    const before = Y.encodeStateAsUpdate(doc);
    const { updates, leaves } = watch(doc);

    expect(invalidPathDetails(() => setPath(doc, ["name", "first"], "x", "test"))).toEqual({
      issue: "path_conflict",
      at: "name",
      hint: "name is a value, not an object",
    });
    expect(
      invalidPathDetails(() => setPath(doc, ["fee_structure", "management_fee_rate", "new", "leaf"], 1, "test")),
    ).toEqual({
      issue: "path_conflict",
      at: "fee_structure.management_fee_rate",
      hint: "fee_structure.management_fee_rate is a value, not an object",
    });

    expect(updates).toHaveLength(0);
    expect(leaves).toHaveLength(0);
    expect(Y.encodeStateAsUpdate(doc)).toEqual(before);
    expect(documentJson(doc)).toEqual({ fee_structure: { management_fee_rate: 0.02 }, name: "Fund I" });
  });

  it("refuses a path through a JSON object leaf or a null leaf: only Y.Maps are traversed", () => {
    const doc = new Y.Doc();
    setPath(doc, ["terms"], { rate: 1 }, "test");
    setPath(doc, ["empty"], null, "test");
    const { updates } = watch(doc);
    expect(invalidPathDetails(() => setPath(doc, ["terms", "rate"], 2, "test"))).toEqual({
      issue: "path_conflict",
      at: "terms",
      hint: "terms is a value, not an object",
    });
    expect(invalidPathDetails(() => setPath(doc, ["empty", "x"], 2, "test"))).toEqual({
      issue: "path_conflict",
      at: "empty",
      hint: "empty is a value, not an object",
    });
    expect(updates).toHaveLength(0);
    expect(documentJson(doc)).toEqual({ terms: { rate: 1 }, empty: null });
  });

  it("refuses the empty path without touching the doc", () => {
    const doc = new Y.Doc();
    const { updates } = watch(doc);
    expect(invalidPathDetails(() => setPath(doc, [], 1, "test"))).toEqual({
      issue: "invalid_path",
      hint: "path must be a non-empty string",
    });
    expect(updates).toHaveLength(0);
  });
});

describe("checkPathFree", () => {
  it("returns the leaf key when every segment before it is absent or a map", () => {
    const doc = new Y.Doc();
    expect(checkPathFree(doc, ["a", "b", "c"])).toBe("c");
    setPath(doc, ["a", "b", "c"], 1, "test");
    expect(checkPathFree(doc, ["a", "b", "d"])).toBe("d");
    expect(checkPathFree(doc, ["a", "b", "c"])).toBe("c");
    expect(checkPathFree(doc, ["a", "x", "y", "z"])).toBe("z");
  });

  it("names the first segment that is a value", () => {
    const doc = new Y.Doc();
    setPath(doc, ["a", "b"], 1, "test");
    expect(invalidPathDetails(() => checkPathFree(doc, ["a", "b", "c", "d"]))).toEqual({
      issue: "path_conflict",
      at: "a.b",
      hint: "a.b is a value, not an object",
    });
  });
});

describe("changedLeaves", () => {
  it("reports one leaf for a JSON-style set of a new nested path", () => {
    const doc = new Y.Doc();
    const { leaves } = watch(doc);
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    expect(leaves).toStrictEqual([[{ path: "fee_structure.management_fee_rate", value: 0.02 }]]);
  });

  it("reports one leaf for a set into an existing map, not its siblings", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    const { leaves } = watch(doc);
    setPath(doc, ["fee_structure", "carry"], 0.2, "test");
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.03, "test");
    expect(leaves).toStrictEqual([
      [{ path: "fee_structure.carry", value: 0.2 }],
      [{ path: "fee_structure.management_fee_rate", value: 0.03 }],
    ]);
  });

  it("reports an object or array value as one leaf", () => {
    const doc = new Y.Doc();
    const { leaves } = watch(doc);
    setPath(doc, ["terms"], { tiers: [1, 2], note: { en: "x" } }, "test");
    expect(leaves).toStrictEqual([[{ path: "terms", value: { tiers: [1, 2], note: { en: "x" } } }]]);
  });

  it("reports null as a value, not a deletion", () => {
    const doc = new Y.Doc();
    setPath(doc, ["a"], 1, "test");
    const { leaves } = watch(doc);
    setPath(doc, ["a"], null, "test");
    expect(leaves).toStrictEqual([[{ path: "a", value: null }]]);
  });

  it("reports each leaf of a newly added nested map, however deep", () => {
    const doc = new Y.Doc();
    const { leaves } = watch(doc);
    doc.transact(() => {
      const fees = new Y.Map<unknown>();
      fees.set("management_fee_rate", 0.02);
      const carry = new Y.Map<unknown>();
      carry.set("rate", 0.2);
      carry.set("hurdle", { type: "soft", rate: 0.08 });
      fees.set("carry", carry);
      rootMap(doc).set("fee_structure", fees);
    });
    expect(leaves).toHaveLength(1);
    const reported = leaves[0] ?? [];
    expect(reported).toHaveLength(3);
    expect(reported).toEqual(
      expect.arrayContaining([
        { path: "fee_structure.management_fee_rate", value: 0.02 },
        { path: "fee_structure.carry.rate", value: 0.2 },
        { path: "fee_structure.carry.hurdle", value: { type: "soft", rate: 0.08 } },
      ]),
    );
  });

  it("reports a newly added empty map as an empty object at its path", () => {
    const doc = new Y.Doc();
    const { leaves } = watch(doc);
    rootMap(doc).set("fee_structure", new Y.Map<unknown>());
    expect(leaves).toStrictEqual([[{ path: "fee_structure", value: {} }]]);
  });

  it("reports every leaf changed in one transaction at any depth, once each", () => {
    const doc = new Y.Doc();
    setPath(doc, ["a", "b"], 1, "test");
    setPath(doc, ["c", "d", "e"], 1, "test");
    const { leaves } = watch(doc);
    doc.transact(() => {
      setPath(doc, ["a", "b"], 2, "inner");
      setPath(doc, ["a", "b"], 3, "inner");
      setPath(doc, ["c", "d", "e"], 4, "inner");
      setPath(doc, ["top"], 5, "inner");
    });
    expect(leaves).toHaveLength(1);
    const reported = leaves[0] ?? [];
    expect(reported).toHaveLength(3);
    expect(reported).toEqual(
      expect.arrayContaining([
        { path: "a.b", value: 3 },
        { path: "c.d.e", value: 4 },
        { path: "top", value: 5 },
      ]),
    );
  });

  it("reports deletes with deleted: true and value null", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(doc, ["fee_structure", "carry"], 0.2, "test");
    setPath(doc, ["name"], "x", "test");
    const { leaves } = watch(doc);
    asMap(rootMap(doc).get("fee_structure")).delete("carry");
    rootMap(doc).delete("name");
    expect(leaves).toStrictEqual([
      [{ path: "fee_structure.carry", value: null, deleted: true }],
      [{ path: "name", value: null, deleted: true }],
    ]);
  });

  it("reports the removal of a whole map as a deletion at the map's path", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    const { leaves } = watch(doc);
    rootMap(doc).delete("fee_structure");
    expect(leaves).toStrictEqual([[{ path: "fee_structure", value: null, deleted: true }]]);
  });

  it("reports the same leaves for an update applied from another doc as for the local edit", () => {
    const local = new Y.Doc();
    const remote = new Y.Doc();
    connect(local, remote);
    const localWatch = watch(local);
    const remoteWatch = watch(remote);

    setPath(local, ["fee_structure", "management_fee_rate"], 0.02, "json");
    setPath(local, ["fee_structure", "management_fee_rate"], 0.03, "json");
    setPath(local, ["terms"], { tiers: [1] }, "json");
    local.transact(() => {
      const carry = new Y.Map<unknown>();
      carry.set("rate", 0.2);
      asMap(rootMap(local).get("fee_structure")).set("carry", carry);
      rootMap(local).delete("terms");
    });

    expect(localWatch.leaves).toHaveLength(4);
    expect(remoteWatch.leaves).toStrictEqual(localWatch.leaves);
    expect(remoteWatch.updates.every(({ origin }) => origin === "remote")).toBe(true);
    expect(documentJson(remote)).toEqual({ fee_structure: { management_fee_rate: 0.03, carry: { rate: 0.2 } } });
  });

  it("reports every leaf of a whole document applied to an empty doc", () => {
    const source = new Y.Doc();
    setPath(source, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(source, ["fee_structure", "carry", "rate"], 0.2, "test");
    setPath(source, ["name"], "Fund I", "test");
    const target = new Y.Doc();
    const { leaves } = watch(target);
    Y.applyUpdate(target, Y.encodeStateAsUpdate(source));
    expect(leaves).toHaveLength(1);
    const reported = leaves[0] ?? [];
    expect(reported).toHaveLength(3);
    expect(reported).toEqual(
      expect.arrayContaining([
        { path: "fee_structure.management_fee_rate", value: 0.02 },
        { path: "fee_structure.carry.rate", value: 0.2 },
        { path: "name", value: "Fund I" },
      ]),
    );
  });

  it("merges concurrent edits of different leaves of a shared map: each side reports the other's leaf", () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    setPath(a, ["fee_structure", "management_fee_rate"], 0.02, "test");
    sync(a, b);
    const aWatch = mirrored(a);
    const bWatch = mirrored(b);

    setPath(a, ["fee_structure", "carry"], 0.2, "a");
    setPath(b, ["fee_structure", "hurdle"], 0.08, "b");
    setPath(b, ["name"], "Fund I", "b");
    sync(a, b);

    const expected = { fee_structure: { management_fee_rate: 0.02, carry: 0.2, hurdle: 0.08 }, name: "Fund I" };
    expect(documentJson(a)).toEqual(expected);
    expect(documentJson(b)).toEqual(expected);
    expect(aWatch.leaves.at(-1)).toEqual(
      expect.arrayContaining([
        { path: "fee_structure.hurdle", value: 0.08 },
        { path: "name", value: "Fund I" },
      ]),
    );
    expect(aWatch.leaves.at(-1)).toHaveLength(2);
    expect(bWatch.leaves.at(-1)).toStrictEqual([{ path: "fee_structure.carry", value: 0.2 }]);
    expect(aWatch.mirror).toEqual(expected);
    expect(bWatch.mirror).toEqual(expected);
  });

  it("merges concurrent edits of the same leaf: both sides converge and their reports agree with the doc", () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    setPath(a, ["fee_structure", "management_fee_rate"], 0.02, "test");
    sync(a, b);
    const aWatch = mirrored(a);
    const bWatch = mirrored(b);

    setPath(a, ["fee_structure", "management_fee_rate"], 0.03, "a");
    setPath(b, ["fee_structure", "management_fee_rate"], 0.04, "b");
    sync(a, b);

    expect(documentJson(a)).toEqual(documentJson(b));
    expect(aWatch.mirror).toEqual(documentJson(a));
    expect(bWatch.mirror).toEqual(documentJson(b));
  });

  it("merges a concurrent delete and edit: reports agree with the doc on both sides", () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    setPath(a, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(a, ["fee_structure", "carry"], 0.2, "test");
    sync(a, b);
    const aWatch = mirrored(a);
    const bWatch = mirrored(b);

    asMap(rootMap(a).get("fee_structure")).delete("carry");
    setPath(b, ["fee_structure", "management_fee_rate"], 0.025, "b");
    sync(a, b);

    const expected = { fee_structure: { management_fee_rate: 0.025 } };
    expect(documentJson(a)).toEqual(expected);
    expect(documentJson(b)).toEqual(expected);
    expect(aWatch.mirror).toEqual(expected);
    expect(bWatch.mirror).toEqual(expected);
  });

  it("merges two docs that each created the same nested map: reports agree with the merged doc", () => {
    // Two Yjs clients, offline, each create `fee_structure` as a new Y.Map with a different leaf.
    // Yjs keeps one of the two maps; the other's leaves disappear. Each JSON editor must end up
    // with the merged document, so a leaf that disappeared has to be reported as removed.
    // Regression (fixed in doc-model.ts): when a key's value is replaced by a new Y.Map
    // (change.action === "update"), changedLeaves reports only the leaves of the new map; the
    // leaves of the value it replaced are never reported deleted, so JSON editors keep
    // `fee_structure.<loser's leaf>` forever. Fix: in changedLeaves, before
    // `collectLeaves(event.target.get(key), path, changes)`, add
    //   if (change.action === "update" && event.target.get(key) instanceof Y.Map)
    //     changes.set(path.join("."), { path: path.join("."), value: null, deleted: true });
    // (the old map's entries are already deleted, so the removal has to name the map itself;
    // the new leaves follow it in the same list, and the map's insertion order keeps it first).
    // Both client-id orders, so that each side is once the one whose map is dropped.
    const orders: [number, number][] = [
      [1, 2],
      [2, 1],
    ];
    for (const [aClient, bClient] of orders) {
      const a = new Y.Doc();
      const b = new Y.Doc();
      a.clientID = aClient;
      b.clientID = bClient;
      const aWatch = mirrored(a);
      const bWatch = mirrored(b);

      setPath(a, ["fee_structure", "management_fee_rate"], 0.02, "a");
      setPath(b, ["fee_structure", "carry"], 0.2, "b");
      sync(a, b);

      expect(documentJson(a)).toEqual(documentJson(b));
      expect(aWatch.mirror, `doc a, client ids ${aClient}/${bClient}`).toEqual(documentJson(a));
      expect(bWatch.mirror, `doc b, client ids ${aClient}/${bClient}`).toEqual(documentJson(b));
    }
  });

  it("ignores changes inside Yjs arrays, which are not part of the model", () => {
    const doc = new Y.Doc();
    const list = new Y.Array<unknown>();
    rootMap(doc).set("list", list);
    const { leaves } = watch(doc);
    list.push([1, 2]);
    expect(leaves).toStrictEqual([[]]);
  });

  it("ignores changes to a Y.Map held inside a Yjs array", () => {
    const doc = new Y.Doc();
    const list = new Y.Array<unknown>();
    const item = new Y.Map<unknown>();
    list.push([item]);
    rootMap(doc).set("list", list);
    const { leaves } = watch(doc);
    item.set("x", 1);
    expect(leaves).toStrictEqual([[]]);
  });
});

describe("documentJson", () => {
  it("is an empty object for an empty doc", () => {
    expect(documentJson(new Y.Doc())).toEqual({});
  });

  it("is the root map as plain JSON: nested maps as objects, JSON leaves as they are", () => {
    const doc = new Y.Doc();
    setPath(doc, ["fee_structure", "management_fee_rate"], 0.02, "test");
    setPath(doc, ["fee_structure", "carry", "tiers"], [{ rate: 0.2 }], "test");
    setPath(doc, ["name"], "Fund I", "test");
    setPath(doc, ["closed"], null, "test");
    const json = documentJson(doc);
    expect(json).toEqual({
      fee_structure: { management_fee_rate: 0.02, carry: { tiers: [{ rate: 0.2 }] } },
      name: "Fund I",
      closed: null,
    });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json.fee_structure).not.toBeInstanceOf(Y.AbstractType);
  });

  it("only reads the root map named data", () => {
    const doc = new Y.Doc();
    doc.getMap("other").set("x", 1);
    setPath(doc, ["y"], 2, "test");
    expect(documentJson(doc)).toEqual({ y: 2 });
  });
});
