/**
 * What a Yjs update from a client may do to a document, checked on its decoded structs before
 * it touches the document (Yjs cannot roll an update back). Pure over Yjs.
 *
 * Refused: an update whose dependencies are neither in the document nor in the update itself
 * (Yjs would keep it pending, in memory and in every sync answer, for ever); content outside
 * the root map `data`; shared types nested deeper than MAX_DOCUMENT_DEPTH; more than
 * MAX_LEAVES_PER_UPDATE structs; values that break the value rules (editing.ts).
 */
import * as Y from "yjs";
import { valueIssue } from "../protocol/equihome/editing";
import { MAX_DOCUMENT_DEPTH, MAX_KEY_LENGTH, MAX_LEAVES_PER_UPDATE } from "../protocol/limits";
import { ROOT_MAP } from "./doc-model";

export interface UpdateRefusal {
  /** A stable snake_case code, also the start of the close reason. */
  issue: "unresolved_dependencies" | "outside_data_map" | "too_deep" | "too_many_leaves" | "invalid_value";
  message: string;
}

/** Where a struct lives: the root type's name and how deep below it its parent type is. */
interface Place {
  root: string;
  /** 0 for a struct directly in a root type. */
  depth: number;
}

type Decoded = ReturnType<typeof Y.decodeUpdate>;

/** Where an item goes when Yjs integrates it: a place, or nowhere (into deleted content: GC). */
type Destination = Place | "discarded";

export function checkUpdate(doc: Y.Doc, { structs, ds }: Decoded): UpdateRefusal | null {
  const items = structs.filter((struct): struct is Y.Item => struct instanceof Y.Item);
  // What becomes a leaf or a type: live map entries and new shared types (deletions, text and
  // array runs do not become resource_updated events).
  const leaves = items.filter(
    (item) =>
      !(item.content instanceof Y.ContentDeleted) &&
      (typeof item.parentSub === "string" || item.content instanceof Y.ContentType),
  ).length;
  if (leaves > MAX_LEAVES_PER_UPDATE) {
    return refuse("too_many_leaves", `more than ${MAX_LEAVES_PER_UPDATE} leaves in one update`);
  }
  const store = doc.store;
  // Each client's structs must follow what the document has of that client, without a gap.
  const next = new Map<number, number>();
  for (const struct of structs) {
    const { client, clock } = struct.id;
    const expected = next.get(client) ?? Y.getState(store, client);
    if (struct instanceof Y.Skip || clock > expected) {
      return refuse("unresolved_dependencies", "the update depends on changes the document never received");
    }
    next.set(client, Math.max(expected, clock + struct.length));
  }
  const known = (id: Y.ID): boolean => id.clock < (next.get(id.client) ?? Y.getState(store, id.client));
  for (const [client, deletes] of ds.clients) {
    for (const { clock, len } of deletes) {
      if (!known(Y.createID(client, clock + len - 1))) {
        return refuse("unresolved_dependencies", "the update deletes changes the document never received");
      }
    }
  }

  const inUpdate = byClient(items);
  const destinations = new Map<Y.Item, Destination | null>();
  const visiting = new Set<Y.Item>();
  /** Where the struct holding `id` lives (its neighbours live there too). */
  const placeOf = (id: Y.ID): Destination | null => {
    const own = findIn(inUpdate, id);
    if (own) return destinationOf(own);
    if (!known(id)) return null;
    const struct = Y.getItem(store, id);
    if (!(struct instanceof Y.Item)) return "discarded"; // collected: Yjs integrates as GC
    return placeOfType(struct.parent as Y.AbstractType<unknown> | null);
  };
  /** Where the contents of the type created by the struct holding `id` live. */
  const insideOf = (id: Y.ID): Destination | null => {
    const own = findIn(inUpdate, id);
    if (own) {
      const outer = destinationOf(own);
      if (outer === null || outer === "discarded") return outer;
      return own.content instanceof Y.ContentType ? { root: outer.root, depth: outer.depth + 1 } : "discarded";
    }
    if (!known(id)) return null;
    const struct = Y.getItem(store, id);
    // A deleted (collected) type: what goes into it is collected too.
    if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentType)) return "discarded";
    return placeOfType(struct.content.type as Y.AbstractType<unknown>);
  };
  /** An item's destination, from its parent or its neighbours, whatever order they came in. */
  const destinationOf = (item: Y.Item): Destination | null => {
    const done = destinations.get(item);
    if (done !== undefined) return done;
    if (visiting.has(item)) return null; // a cycle: nothing Yjs could integrate
    visiting.add(item);
    let destination: Destination | null;
    if (typeof item.parent === "string") destination = { root: item.parent, depth: 0 };
    else if (item.parent instanceof Y.ID) destination = insideOf(item.parent);
    else {
      const neighbour = item.origin ?? item.rightOrigin;
      destination = neighbour ? placeOf(neighbour) : null;
    }
    for (const neighbour of [item.origin, item.rightOrigin]) {
      if (neighbour && !known(neighbour)) destination = null;
    }
    visiting.delete(item);
    destinations.set(item, destination);
    return destination;
  };

  for (const item of items) {
    const destination = destinationOf(item);
    if (destination === null) {
      return refuse("unresolved_dependencies", "the update refers to changes the document never received");
    }
    if (item.content instanceof Y.ContentDoc) return refuse("invalid_value", "subdocuments are not part of the model");
    if (destination === "discarded") continue;
    if (destination.root !== ROOT_MAP) return refuse("outside_data_map", `content outside the "${ROOT_MAP}" map`);
    if (item.content instanceof Y.ContentType && destination.depth + 1 > MAX_DOCUMENT_DEPTH) {
      return refuse("too_deep", `shared types nested deeper than ${MAX_DOCUMENT_DEPTH}`);
    }
    const values =
      item.content instanceof Y.ContentAny
        ? item.content.arr
        : item.content instanceof Y.ContentJSON
          ? item.content.arr
          : item.content instanceof Y.ContentEmbed
            ? [item.content.embed]
            : [];
    for (const value of values) {
      const issue = valueIssue(value);
      if (issue) return refuse("invalid_value", `${issue.details.issue}: ${issue.message}`);
    }
    if (typeof item.parentSub === "string" && item.parentSub.length > MAX_KEY_LENGTH) {
      return refuse("invalid_value", `key_too_long: a key is longer than ${MAX_KEY_LENGTH} characters`);
    }
  }
  return null;
}

function refuse(issue: UpdateRefusal["issue"], message: string): UpdateRefusal {
  return { issue, message };
}

/** Where a type of the document is: its root's name and how many types lie between. */
function placeOfType(type: Y.AbstractType<unknown> | null): Place | null {
  let depth = 0;
  let current = type;
  while (current?._item) {
    depth += 1;
    if (depth > MAX_DOCUMENT_DEPTH + 1) return { root: ROOT_MAP, depth };
    current = current._item.parent as Y.AbstractType<unknown> | null;
  }
  if (!current) return null;
  return { root: Y.findRootTypeKey(current), depth };
}

function byClient(items: Y.Item[]): Map<number, Y.Item[]> {
  const clients = new Map<number, Y.Item[]>();
  for (const item of items) {
    const list = clients.get(item.id.client) ?? [];
    list.push(item);
    clients.set(item.id.client, list);
  }
  return clients;
}

/** The update's item holding `id` (items of a client come in clock order). */
function findIn(clients: Map<number, Y.Item[]>, id: Y.ID): Y.Item | null {
  const list = clients.get(id.client);
  if (!list) return null;
  let low = 0;
  let high = list.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const item = list[mid] as Y.Item;
    if (id.clock < item.id.clock) high = mid - 1;
    else if (id.clock >= item.id.clock + item.length) low = mid + 1;
    else return item;
  }
  return null;
}
