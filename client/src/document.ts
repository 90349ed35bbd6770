/**
 * Applies a `resource_updated` to a local copy of a document's JSON form, as the server's
 * document does (docs/PROTOCOL.md "Document model"): one leaf set per event, maps created along
 * the path, `deleted: true` removes the key. Pure.
 */
export type JsonObject = { [key: string]: unknown };

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Sets (or deletes) the leaf at `path` (`a.b.c`) in `document`, in place. */
export function applyUpdate(document: JsonObject, path: string, value: unknown, deleted = false): void {
  const segments = path.split(".");
  const last = segments.pop();
  if (last === undefined) return;
  let node = document;
  for (const segment of segments) {
    const child = Object.hasOwn(node, segment) ? node[segment] : undefined;
    if (isObject(child)) {
      node = child;
    } else {
      if (deleted) return;
      const created: JsonObject = {};
      node[segment] = created;
      node = created;
    }
  }
  if (deleted) delete node[last];
  else node[last] = value;
}
