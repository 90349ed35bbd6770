/**
 * The Yjs pane: the same fund through y-websocket (`/v1/yjs/fund/<id>`), the root map
 * `getMap("data")`, one nested Y.Map per path segment (docs/PROTOCOL.md "Document model").
 * The token rides in the URL (`params`, as y-websocket allows no header) and is renewed before
 * each reconnection.
 */
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { setLink } from "./dom";
import { FundForm } from "./fund-fields";

export interface YjsPane {
  provider: WebsocketProvider;
  doc: Y.Doc;
  close(): void;
}

/** Sets one leaf, creating the maps on its path, in one transaction. */
function setPath(root: Y.Map<unknown>, path: string, value: unknown): void {
  const segments = path.split(".");
  const last = segments.pop() as string;
  root.doc?.transact(() => {
    let map = root;
    for (const segment of segments) {
      const child = map.get(segment);
      if (child instanceof Y.Map) {
        map = child;
      } else {
        const created = new Y.Map<unknown>();
        map.set(segment, created);
        map = created;
      }
    }
    map.set(last, value);
  });
}

export function startYjsPane(
  fundId: string,
  user: string,
  token: () => Promise<string>,
  initialToken: string,
  onError: (message: string) => void,
): YjsPane {
  const pane = document.getElementById("pane-yjs") as HTMLElement;
  const doc = new Y.Doc();
  const data = doc.getMap<unknown>("data");
  const wsOrigin = location.origin.replace(/^http/, "ws");
  const provider = new WebsocketProvider(`${wsOrigin}/v1/yjs/fund`, fundId, doc, {
    params: { token: initialToken },
    // Every change goes through the server, not through another tab of this browser.
    disableBc: true,
  });
  const form = new FundForm(
    pane,
    async (path, value) => {
      if (!provider.wsconnected) throw new Error("not connected");
      setPath(data, path, value);
    },
    onError,
  );
  provider.awareness.setLocalStateField("user", { name: user });
  const editors = () => {
    const names = [...provider.awareness.getStates().values()]
      .map((state) => (state as { user?: { name?: string } }).user?.name)
      .filter((name): name is string => typeof name === "string");
    form.editors(`present (awareness): ${[...new Set(names)].join(", ") || "none"}`);
  };
  provider.awareness.on("change", editors);
  editors();
  provider.on("status", ({ status }: { status: string }) => {
    setLink("yjs", status === "connected" ? "open" : "connecting", `y-websocket: ${status}`);
  });
  provider.on("sync", (synced: boolean) => {
    if (!synced) return;
    form.show(data.toJSON());
    form.enable();
    pane.dataset.synced = "true";
  });
  provider.on("connection-close", (event: CloseEvent | null) => {
    if (event && event.code >= 4400) onError(`Yjs: closed ${event.code} ${event.reason}`);
    // A fresh token for the reconnection (y-websocket reads `params` each time it connects).
    token().then(
      (t) => {
        provider.params.token = t;
      },
      (error: unknown) => onError(`Yjs token: ${String(error)}`),
    );
  });
  data.observeDeep((events, transaction) => {
    const changed: string[] = [];
    for (const event of events) {
      const prefix = event.path.map(String).join(".");
      for (const key of event.keys.keys()) changed.push(prefix ? `${prefix}.${key}` : key);
    }
    form.show(data.toJSON(), transaction.local ? [] : changed);
  });
  // Keep the URL's token fresh while connected, for the next reconnection.
  const renew = setInterval(() => {
    token().then(
      (t) => {
        provider.params.token = t;
      },
      () => undefined,
    );
  }, 60_000);
  return {
    provider,
    doc,
    close: () => {
      clearInterval(renew);
      provider.destroy();
      doc.destroy();
    },
  };
}
