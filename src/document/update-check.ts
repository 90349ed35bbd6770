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

export function checkUpdate(doc: Y.Doc, { structs, ds }: Decoded): UpdateRefusal | null {
  const items = structs.filter((struct): struct is Y.Item => struct instanceof Y.Item);
  if (items.length > MAX_LEAVES_PER_UPDATE) {
    return refuse("too_many_leaves", `more than ${MAX_LEAVES_PER_UPDATE} structs in one update`);
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

  const places = new Map<Y.Item, Place>();
  const inUpdate = byClient(items);
  /** The place of the item that holds `id`, from this update or from the document. */
  const placeOf = (id: Y.ID): Place | null => {
    const own = findIn(inUpdate, id);
    if (own) return places.get(own) ?? null;
    if (id.clock >= Y.getState(store, id.client)) return null;
    const item = Y.getItem(store, id);
    return item instanceof Y.Item ? placeOfType(item.parent as Y.AbstractType<unknown> | null) : null;
  };
  /** The place of a new type's contents: its own item's place, one level deeper. */
  const insideOf = (id: Y.ID): Place | null => {
    const own = findIn(inUpdate, id);
    if (own) {
      const place = places.get(own);
      return place && own.content instanceof Y.ContentType ? { root: place.root, depth: place.depth + 1 } : null;
    }
    if (id.clock >= Y.getState(store, id.client)) return null;
    const item = Y.getItem(store, id);
    return item instanceof Y.Item && item.content instanceof Y.ContentType
      ? placeOfType(item.content.type as Y.AbstractType<unknown>)
      : null;
  };

  for (const item of items) {
    let place: Place | null;
    if (typeof item.parent === "string") place = { root: item.parent, depth: 0 };
    else if (item.parent instanceof Y.ID) place = insideOf(item.parent);
    else {
      const neighbour = item.origin ?? item.rightOrigin;
      place = neighbour ? placeOf(neighbour) : null;
    }
    for (const neighbour of [item.origin, item.rightOrigin]) {
      if (neighbour && !known(neighbour)) place = null;
    }
    if (place === null) {
      return refuse("unresolved_dependencies", "the update refers to changes the document never received");
    }
    if (place.root !== ROOT_MAP) return refuse("outside_data_map", `content outside the "${ROOT_MAP}" map`);
    if (item.content instanceof Y.ContentType && place.depth + 1 > MAX_DOCUMENT_DEPTH) {
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
    places.set(item, place);
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
