/**
 * Operations at a glance: `GET /v1/admin/stats` every few seconds while the page is visible
 * (needs a token with the `admin` scope). Each request asks every hub of the region and the
 * topics they hold (docs/PROTOCOL.md "Operations"): a dashboard's poll, not something to run per user.
 */
import { el, find, setLink } from "./dom";

interface Stats {
  region: string;
  shards: { configured: number; from: number; count: number };
  at: string;
  totals: { hubs_active: number; sockets: number; sessions: number; topics: number; max_lag: number };
  hubs: { name: string; protocol: string; sockets: number; sessions: number; topics: number; error?: string }[];
  topics: {
    name: string;
    subscribers: number;
    seq: number;
    max_lag: number;
    hubs: { hub: string; delivered: number; lag: number; failures: number }[];
    error?: string;
  }[];
  topics_not_shown: number;
}

const POLL_MS = 3000;

function total(key: string, value: number, title?: string): HTMLElement {
  return el(
    "div",
    { class: "total", "data-total": key, title },
    el("div", { class: "v" }, String(value)),
    el("div", { class: "k" }, key.replaceAll("_", " ")),
  );
}

export function startOps(token: () => Promise<string>): () => void {
  const totals = find("#ops .totals");
  const hubs = find("#ops .hubs tbody");
  const topics = find("#ops .topics tbody");
  const note = find("#ops .ops-note");
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const render = (stats: Stats) => {
    totals.replaceChildren(
      total("hubs_active", stats.totals.hubs_active, `of ${stats.hubs.length} asked`),
      total("sockets", stats.totals.sockets, "open WebSockets on the hubs"),
      total("sessions", stats.totals.sessions, "Engine.IO sessions (Socket.IO)"),
      total("topics", stats.totals.topics, "topics held by the hubs"),
      total("max_lag", stats.totals.max_lag, "events stored but not yet acknowledged by a hub"),
    );
    const active = stats.hubs.filter((hub) => hub.sockets || hub.sessions || hub.topics || hub.error);
    hubs.replaceChildren(
      ...active.map((hub) =>
        el(
          "tr",
          { "data-hub": hub.name },
          el("td", {}, hub.name, hub.error ? ` (${hub.error})` : ""),
          el("td", { class: "num" }, String(hub.sockets)),
          el("td", { class: "num" }, String(hub.sessions)),
          el("td", { class: "num" }, String(hub.topics)),
        ),
      ),
    );
    topics.replaceChildren(
      ...stats.topics.map((topic) =>
        el(
          "tr",
          { "data-topic": topic.name },
          el("td", {}, topic.name),
          el("td", { class: "num" }, String(topic.subscribers)),
          el("td", { class: "num" }, String(topic.seq)),
          el("td", { class: `num ${topic.max_lag === 0 ? "lag-ok" : "lag-behind"}` }, String(topic.max_lag)),
          el("td", {}, topic.error ?? topic.hubs.map((hub) => `${hub.hub}@${hub.delivered}`).join(", ")),
        ),
      ),
    );
    const more = stats.topics_not_shown > 0 ? ` · ${stats.topics_not_shown} more topics not shown` : "";
    note.textContent = `region ${stats.region}, shards ${stats.shards.from}–${stats.shards.from + stats.shards.count - 1} of ${stats.shards.configured} · ${new Date(stats.at).toLocaleTimeString("en-GB")}${more}`;
  };

  const poll = async () => {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        // No region: the server answers for the region this request lands in, this page's own.
        const response = await fetch("/v1/admin/stats", {
          headers: { Authorization: `Bearer ${await token()}` },
        });
        if (response.ok) {
          render((await response.json()) as Stats);
          setLink("ops", "open", "GET /v1/admin/stats");
        } else {
          const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
          const message = body.error?.message ?? `HTTP ${response.status}`;
          setLink("ops", "error", message);
          note.textContent =
            response.status === 403
              ? 'This token lacks the admin scope: npm run -s token -- --sub ann --scope "edit admin"'
              : `GET /v1/admin/stats: ${message}`;
        }
      } catch (error) {
        setLink("ops", "error", String(error));
      }
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };
  setLink("ops", "connecting");
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
