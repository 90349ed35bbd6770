/**
 * What the page watches, from its URL (`/?sims=sim_a,sim_b&fund=fund_1&commodities=gold`): the
 * defaults are what `npm run demo` publishes.
 */
export interface DashboardConfig {
  simulations: string[];
  fund: string;
  commodities: string[];
  /** The user of the JSON connection, Socket.IO and the JSON pane (the dev token's `sub`). */
  user: string;
  /** The user of the Yjs pane (its own dev token), so the panes show two editors. */
  yjsUser: string;
}

export const DEFAULTS: DashboardConfig = {
  simulations: ["sim_alpha", "sim_beta"],
  fund: "fund_demo",
  commodities: ["crude_oil", "natural_gas", "electricity", "carbon"],
  user: "ann",
  yjsUser: "yuki",
};

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

function list(raw: string | null, fallback: string[]): string[] {
  if (raw === null) return fallback;
  const items = raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => ID.test(item));
  return items.length > 0 ? [...new Set(items)].slice(0, 8) : fallback;
}

function one(raw: string | null, fallback: string): string {
  return raw !== null && ID.test(raw) ? raw : fallback;
}

export function readConfig(search: string): DashboardConfig {
  const params = new URLSearchParams(search);
  return {
    simulations: list(params.get("sims"), DEFAULTS.simulations),
    fund: one(params.get("fund"), DEFAULTS.fund),
    commodities: list(params.get("commodities"), DEFAULTS.commodities),
    user: one(params.get("user"), DEFAULTS.user),
    yjsUser: one(params.get("yjs_user"), DEFAULTS.yjsUser),
  };
}
