/**
 * The shared document model of the contract: one Y.Doc per resource, root Y.Map "data", one
 * nested Y.Map per path segment, JSON values as leaves. Pure over Yjs: no runtime imports.
 */
import * as Y from "yjs";
import { ProtocolError } from "../protocol/errors";
import { MAX_DOCUMENT_DEPTH, MAX_VALUE_DEPTH } from "../protocol/limits";

export const ROOT_MAP = "data";

export interface LeafChange {
  /** Dot-joined path of the leaf, e.g. `fee_structure.management_fee_rate`. */
  path: string;
  /** The new value, or null when the leaf was removed. */
  value: unknown;
  /** Present and true when the leaf was removed. */
  deleted?: true;
}

export function rootMap(doc: Y.Doc): Y.Map<unknown> {
  return doc.getMap(ROOT_MAP);
}

/** Depth past which a read stops (null), whatever was stored before the write bounds held. */
const READ_DEPTH = MAX_DOCUMENT_DEPTH + MAX_VALUE_DEPTH + 2;

/**
 * The whole document as plain JSON, safe for anything stored: nesting past READ_DEPTH reads as
 * null, non-finite numbers as null, a `__proto__` key (or a prototype a decoder made of one) is
 * left out, and every object is a plain one that structured clone and JSON.stringify accept.
 */
export function documentJson(doc: Y.Doc): Record<string, unknown> {
  return plain(rootMap(doc), 0) as Record<string, unknown>;
}

/**
 * A plain object: its prototype is Object's, none, or (stored before `__proto__` was refused, by
 * a decoder that turned the key into the prototype) a plain object whose own prototype is Object's.
 */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === null || proto === Object.prototype) return true;
  return Object.getPrototypeOf(proto) === Object.prototype && !Object.hasOwn(proto, "constructor");
}

function plain(value: unknown, depth: number): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (value === null || typeof value !== "object") return value === undefined ? null : value;
  if (depth > READ_DEPTH) return null;
  if (value instanceof Y.Map) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of value.entries()) if (key !== "__proto__") out[key] = plain(child, depth + 1);
    return out;
  }
  if (value instanceof Y.Array) return value.toArray().map((child) => plain(child, depth + 1));
  if (value instanceof Y.AbstractType) return String(value.toString());
  if (Array.isArray(value)) return value.map((child) => plain(child, depth + 1));
  if (value instanceof Uint8Array || !isPlainObject(value)) return null; // a Y.Doc, a class instance
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (key !== "__proto__") out[key] = plain((value as Record<string, unknown>)[key], depth + 1);
  }
  return out;
}

/**
 * Sets the leaf at `segments` in one transaction, creating the nested maps on the way. A path
 * that runs through an existing leaf is refused before anything is written.
 */
export function setPath(doc: Y.Doc, segments: string[], value: unknown, origin: unknown): void {
  const leaf = checkPathFree(doc, segments);
  doc.transact(() => {
    let map = rootMap(doc);
    for (const segment of segments.slice(0, -1)) {
      let next = map.get(segment);
      if (!(next instanceof Y.Map)) {
        next = new Y.Map<unknown>();
        map.set(segment, next);
      }
      map = next as Y.Map<unknown>;
    }
    setKey(map, leaf, value);
  }, origin);
}

/**
 * `map.set(key, value)`, also for an object with its own `constructor` key: Yjs picks a value's
 * content by `value.constructor` and throws for one that is data, so such a value is written as
 * the same ContentAny item Yjs itself would write for a plain object.
 */
function setKey(map: Y.Map<unknown>, key: string, value: unknown): void {
  const transaction = map.doc?._transaction;
  if (value === null || typeof value !== "object" || !Object.hasOwn(value, "constructor") || !transaction) {
    map.set(key, value);
    return;
  }
  const doc = transaction.doc;
  const left = map._map.get(key) ?? null;
  const id = Y.createID(doc.clientID, Y.getState(doc.store, doc.clientID));
  new Y.Item(id, left, left?.lastId ?? null, null, null, map, key, new Y.ContentAny([value])).integrate(transaction, 0);
}

/** Throws when `segments` is empty or runs through an existing leaf; returns the leaf's key. */
export function checkPathFree(doc: Y.Doc, segments: string[]): string {
  const leaf = segments.at(-1);
  if (leaf === undefined)
    throw new ProtocolError("invalid_message", "Invalid path", {
      details: { issue: "invalid_path", hint: "path must be a non-empty string" },
    });
  let probe: Y.Map<unknown> | undefined = rootMap(doc);
  for (const [depth, segment] of segments.slice(0, -1).entries()) {
    const next: unknown = probe?.get(segment);
    if (next !== undefined && !(next instanceof Y.Map)) {
      const at = segments.slice(0, depth + 1).join(".");
      throw new ProtocolError("invalid_message", "Invalid path", {
        // A code to switch on, where the value is that the path runs through, and a sentence.
        details: { issue: "path_conflict", at, hint: `${at} is a value, not an object` },
      });
    }
    probe = next;
  }
  return leaf;
}

/**
 * The leaves a transaction changed, from the events of `observeDeep` on the root map: one entry
 * per leaf, a newly added map reported as each leaf under it.
 */
export function changedLeaves(events: Y.YEvent<Y.AbstractType<unknown>>[]): LeafChange[] {
  const changes = new Map<string, LeafChange>();
  for (const event of events) {
    if (!(event.target instanceof Y.Map)) continue;
    const base = event.path.filter((segment): segment is string => typeof segment === "string");
    if (base.length !== event.path.length) continue; // inside an array: not part of the model
    for (const [key, change] of event.changes.keys) {
      const path = [...base, key];
      if (change.action === "delete") {
        changes.set(path.join("."), { path: path.join("."), value: null, deleted: true });
        continue;
      }
      const value = event.target.get(key);
      if (change.action === "update" && value instanceof Y.Map) {
        // A map replaced another value (two clients created the same map offline): the leaves of
        // what it replaced are gone, so say so before listing the new ones.
        changes.set(path.join("."), { path: path.join("."), value: null, deleted: true });
      }
      collectLeaves(value, path, changes);
    }
  }
  return [...changes.values()];
}

function collectLeaves(value: unknown, path: string[], into: Map<string, LeafChange>): void {
  if (value instanceof Y.Map) {
    if (value.size === 0) into.set(path.join("."), { path: path.join("."), value: {} });
    for (const [key, child] of value.entries()) collectLeaves(child, [...path, key], into);
    return;
  }
  into.set(path.join("."), { path: path.join("."), value: plain(value, path.length) });
}
