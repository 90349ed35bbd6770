/**
 * The Equihome feeds, through the client SDK's subscriptions: simulation progress bars and
 * completion summaries, GP economics steps, traffic-light zones and notifications. Each panel
 * renders what its channel's events carry (docs/PROTOCOL.md "Channel events").
 */

import { el, find, formatNumber, formatTime, humanize } from "./dom";
import type { ChannelEvents, EquihomeClient, EventMeta } from "./json-client";

type Progress = ChannelEvents["simulation_progress"];
type Completed = ChannelEvents["simulation_completed"];

function summaryGrid(summary: Record<string, number | null>): HTMLElement {
  return el(
    "div",
    { class: "summary" },
    ...Object.entries(summary).map(([key, value]) =>
      el(
        "div",
        { class: "metric" },
        el("div", { class: "k" }, humanize(key)),
        el("div", { class: "v" }, formatNumber(value)),
      ),
    ),
  );
}

/** One simulation: a progress bar, its status and message, then its summary. */
class SimulationCard {
  readonly root: HTMLElement;
  #bar = el("span");
  #pct = el("span", { class: "pct" }, "0 %");
  #badge = el("span", { class: "badge" }, "waiting");
  #message = el("span", { class: "message" });
  #seq = el("span", { class: "seq" });
  #summary = el("div");

  constructor(id: string) {
    this.root = el(
      "div",
      { class: "sim", "data-simulation": id },
      el("div", { class: "sim-head" }, el("span", { class: "name" }, id), this.#badge),
      el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, this.#bar),
      el("div", { class: "meta" }, this.#message, el("span", {}, this.#pct, " ", this.#seq)),
      this.#summary,
    );
  }

  progress(data: Progress, meta: EventMeta): void {
    this.#set(data.progress, data.status);
    const eta = data.estimated_completion_time ? ` · ETA ${formatTime(data.estimated_completion_time)}` : "";
    this.#message.textContent = `${data.message ?? ""}${eta}`;
    this.#seq.textContent = `· seq ${meta.seq}`;
    if (data.progress < 100) this.#summary.replaceChildren();
  }

  completed(data: Completed, meta: EventMeta): void {
    this.#set(100, data.status);
    this.#message.textContent = "Completed";
    this.#seq.textContent = `· seq ${meta.seq}`;
    this.#summary.replaceChildren(summaryGrid(data.summary));
  }

  #set(progress: number, status: string): void {
    const bar = this.#bar.parentElement as HTMLElement;
    bar.setAttribute("aria-valuenow", String(progress));
    this.root.dataset.progress = String(progress);
    this.#bar.style.width = `${Math.max(0, Math.min(100, progress))}%`;
    bar.classList.toggle("done", progress >= 100);
    this.#pct.textContent = `${formatNumber(progress, 1)} %`;
    this.#badge.textContent = status;
    this.#badge.className = `badge ${status === "completed" ? "completed" : status === "failed" ? "failed" : ""}`;
  }
}

/** One GP economics calculation: its steps as they come, then the summary or the error. */
class GpCard {
  readonly root: HTMLElement;
  #badge = el("span", { class: "badge" }, "waiting");
  #bar = el("span");
  #steps = el("ul", { class: "steps" });
  #end = el("div");

  constructor(id: string) {
    this.root = el(
      "div",
      { class: "sim", "data-gp": id },
      el("div", { class: "sim-head" }, el("span", { class: "name" }, id), this.#badge),
      el("div", { class: "bar" }, this.#bar),
      this.#steps,
      this.#end,
    );
  }

  started(data: ChannelEvents["gp_entity_economics_calculation_started"]): void {
    this.#badge.textContent = "started";
    this.#badge.className = "badge";
    this.#bar.style.width = "0%";
    this.#bar.parentElement?.classList.remove("done");
    this.#steps.replaceChildren(el("li", {}, el("span", {}, `started ${formatTime(data.timestamp)}`)));
    this.#end.replaceChildren();
  }

  progress(data: ChannelEvents["gp_entity_economics_calculation_progress"]): void {
    this.#badge.textContent = `${formatNumber(data.progress, 0)} %`;
    this.#bar.style.width = `${data.progress}%`;
    for (const li of this.#steps.querySelectorAll("li.current")) li.classList.remove("current");
    let step = [...this.#steps.children].find((li) => (li as HTMLElement).dataset.step === data.step) as
      | HTMLElement
      | undefined;
    if (!step) {
      step = el("li", { "data-step": data.step });
      this.#steps.append(step);
    }
    step.className = "current";
    step.replaceChildren(
      el("span", {}, humanize(data.step), data.message ? ` · ${data.message}` : ""),
      el("span", { class: "pct" }, `${formatNumber(data.progress, 0)} %`),
    );
  }

  completed(data: ChannelEvents["gp_entity_economics_calculation_completed"]): void {
    this.#badge.textContent = "completed";
    this.#badge.className = "badge completed";
    this.#bar.style.width = "100%";
    this.#bar.parentElement?.classList.add("done");
    for (const li of this.#steps.querySelectorAll("li.current")) li.classList.remove("current");
    this.#end.replaceChildren(summaryGrid(data.summary));
  }

  failed(data: ChannelEvents["gp_entity_economics_calculation_failed"]): void {
    this.#badge.textContent = "failed";
    this.#badge.className = "badge failed";
    this.#end.replaceChildren(el("p", { class: "down" }, data.error));
  }
}

function riskLevel(risk: number): "green" | "amber" | "red" {
  // Scores may be 0–1 or 0–100: read both.
  const score = risk > 1 ? risk / 100 : risk;
  return score < 0.34 ? "green" : score < 0.67 ? "amber" : "red";
}

const percent = (value: number) => `${formatNumber(value > 1 ? value : value * 100, 2)} %`;

/** Subscribes every feed panel; failures are shown in the panel, not thrown. */
export async function startFeeds(client: EquihomeClient, simulations: string[]): Promise<void> {
  const simList = find("#simulations .list");
  const gpList = find("#gp .list");
  const sims = new Map<string, SimulationCard>();
  const gps = new Map<string, GpCard>();
  const simCard = (id: string) => {
    let card = sims.get(id);
    if (!card) {
      card = new SimulationCard(id);
      sims.set(id, card);
      simList.append(card.root);
    }
    return card;
  };
  const gpCard = (id: string) => {
    let card = gps.get(id);
    if (!card) {
      card = new GpCard(id);
      gps.set(id, card);
      gpList.append(card.root);
    }
    return card;
  };

  for (const id of simulations) simCard(id);

  const zones = find("#traffic .zones");
  const conditions = find("#traffic .conditions");
  const zoneState = new Map<string, HTMLElement>();
  const feed = find("#notifications .feed");

  const failures: string[] = [];
  const attempt = async (what: string, subscribe: () => Promise<unknown>) => {
    try {
      await subscribe();
    } catch (error) {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  await Promise.all([
    ...simulations.map((id) =>
      attempt(`simulation_updates ${id}`, async () => {
        const sub = await client.subscribe({ channel: "simulation_updates", simulation_id: id });
        sub.on("simulation_progress", (data, meta) => simCard(data.simulation_id).progress(data, meta));
        sub.on("simulation_completed", (data, meta) => simCard(data.simulation_id).completed(data, meta));
      }),
    ),
    ...simulations.map((id) =>
      attempt(`gp_entity_updates ${id}`, async () => {
        const sub = await client.subscribe({ channel: "gp_entity_updates", simulation_id: id });
        sub.on("gp_entity_economics_calculation_started", (data) => gpCard(data.simulation_id).started(data));
        sub.on("gp_entity_economics_calculation_progress", (data) => gpCard(data.simulation_id).progress(data));
        sub.on("gp_entity_economics_calculation_completed", (data) => gpCard(data.simulation_id).completed(data));
        sub.on("gp_entity_economics_calculation_failed", (data) => gpCard(data.simulation_id).failed(data));
      }),
    ),
    attempt("traffic_light_updates", async () => {
      const sub = await client.subscribe({ channel: "traffic_light_updates" });
      sub.on("traffic_light_update", (data) => {
        for (const [name, zone] of Object.entries(data.zone_updates)) {
          const card = el(
            "div",
            { class: `zone level-${riskLevel(zone.risk_score)}`, "data-zone": name },
            el("div", { class: "zname" }, humanize(name)),
            el(
              "dl",
              {},
              el("dt", {}, "appreciation"),
              el("dd", {}, percent(zone.appreciation_rate)),
              el("dt", {}, "default"),
              el("dd", {}, percent(zone.default_rate)),
              el("dt", {}, "risk score"),
              el("dd", {}, formatNumber(zone.risk_score, 2)),
            ),
          );
          card.dataset.risk = String(zone.risk_score);
          zoneState.get(name)?.remove();
          zoneState.set(name, card);
        }
        // Safest first.
        zones.replaceChildren(
          ...[...zoneState.values()].sort((a, b) => Number(a.dataset.risk) - Number(b.dataset.risk)),
        );
        if (data.market_conditions) {
          conditions.replaceChildren(
            ...Object.entries(data.market_conditions).map(([key, value]) =>
              el("span", { class: "chip" }, `${humanize(key)}: `, el("b", {}, value)),
            ),
            el("span", { class: "chip" }, `updated ${formatTime(data.timestamp)}`),
          );
        }
      });
    }),
    attempt("system_notifications", async () => {
      const sub = await client.subscribe({ channel: "system_notifications" });
      sub.on("notification", (data, meta) => {
        feed.prepend(
          el(
            "li",
            { "data-seq": String(meta.seq) },
            el("time", {}, formatTime(data.timestamp)),
            el("span", { class: `type ${data.type}` }, data.type),
            data.message,
          ),
        );
        while (feed.children.length > 30) feed.lastElementChild?.remove();
      });
    }),
  ]);
  if (failures.length > 0) throw new Error(failures.join("; "));
}
