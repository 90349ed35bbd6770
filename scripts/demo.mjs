// Demo traffic for the dashboard: posts realistic events through POST /v1/ingest, as the
// simulation engine, the GP economics service, the risk model, the market data feed and the
// order system would, so that the page at http://localhost:8787/ comes alive with no setup.
//   npm run demo [-- --url http://localhost:8787] [--speed 2] [--user ann] [--fund fund_demo]
//                [--secret S]
// Over ~40 s (divided by --speed): the fund's document is filled in; a traffic-light update;
// simulations sim_alpha and sim_beta go from 0 to 100 % and complete with a summary; GP
// economics for both (sim_alpha completes, sim_beta fails); market ticks for four commodities
// every half second; an order filled in steps, with its trades, for --user (the dashboard's
// user, "ann" by default); notifications. Its token (scope publish) is signed with the
// JWT_SECRET of .dev.vars (created by `npm run dev`) unless --secret is given.
import { parseArgs } from "node:util";
import { signLocalToken } from "./local-token.mjs";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://localhost:8787" },
    speed: { type: "string", default: "1" },
    user: { type: "string", default: "ann" },
    fund: { type: "string", default: "fund_demo" },
    secret: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});
const speed = Number(values.speed);
if (!Number.isFinite(speed) || speed <= 0) throw new Error("--speed must be a positive number");
const base = values.url.replace(/\/+$/, "");
const user = values.user;
const token = await signLocalToken({
  sub: "demo-feed",
  scope: "publish",
  ttl: 3600,
  ...(values.secret ? { secret: values.secret } : {}),
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms / speed));
const now = () => new Date().toISOString();
const log = (...args) => values.quiet || console.log(...args);
const runId = Date.now().toString(36);
let posted = 0;

/** Posts events (one or a batch); fails loudly with the server's error. */
async function post(events) {
  const body = Array.isArray(events) ? events : [events];
  let response;
  try {
    response = await fetch(`${base}/v1/ingest`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    console.error(
      `Cannot reach ${base}/v1/ingest (${error.cause?.code ?? error.message}): is \`npm run dev\` running?`,
    );
    process.exit(1);
  }
  if (!response.ok) {
    const text = await response.text();
    if (response.status === 401) {
      console.error(
        `401 from ${base}: the demo's token is signed with .dev.vars' JWT_SECRET; is that server running from this checkout?`,
      );
    }
    throw new Error(`ingest ${response.status}: ${text}`);
  }
  posted += body.length;
  return response.json();
}

// --- the fund's shared document: the two panes start from this ----------------------------------
const fund = (path, value) => ({
  event: "resource_updated",
  id: `demo-${runId}-fund-${path}`,
  data: { resource_type: "fund", resource_id: values.fund, path, value, updated_by: "demo@realtime-edge.local" },
});

// --- market ticks: a random walk per commodity ---------------------------------------------------
const markets = {
  crude_oil: { price: 74.2, step: 0.35, volume: 125_000 },
  natural_gas: { price: 2.84, step: 0.03, volume: 310_000 },
  electricity: { price: 48.6, step: 0.6, volume: 82_000 },
  carbon: { price: 67.1, step: 0.4, volume: 41_000 },
};
function tick(commodity) {
  const m = markets[commodity];
  const change = (Math.random() - 0.48) * m.step;
  const previous = m.price;
  m.price = Math.max(0.01, Math.round((m.price + change) * 100) / 100);
  const spread = Math.max(0.01, Math.round(m.step * 10) / 100);
  const at = now();
  return {
    event: "market-update",
    data: {
      type: "MARKET_UPDATE",
      payload: {
        commodity,
        price: m.price,
        change: Math.round((m.price - previous) * 100) / 100,
        changePercent: Math.round(((m.price - previous) / previous) * 10_000) / 100,
        volume: Math.round(m.volume * (0.8 + Math.random() * 0.4)),
        bid: Math.round((m.price - spread) * 100) / 100,
        ask: Math.round((m.price + spread) * 100) / 100,
        timestamp: at,
      },
      timestamp: at,
    },
  };
}
let ticking = true;
const ticker = (async () => {
  while (ticking) {
    await post(Object.keys(markets).map(tick));
    await sleep(500);
  }
})();

// --- orders and trades ----------------------------------------------------------------------------
const orderId = `ord-${runId}`;
const order = (status, filled, averagePrice) => ({
  event: "order-update",
  data: {
    type: "ORDER_UPDATE",
    payload: {
      id: orderId,
      userId: user,
      status,
      filledQuantity: filled,
      remainingQuantity: 5000 - filled,
      ...(averagePrice === undefined ? {} : { averagePrice }),
      timestamp: now(),
    },
    timestamp: now(),
    userId: user,
  },
});
const trade = (n, quantity, price) => ({
  event: "trade-update",
  data: {
    type: "TRADE_UPDATE",
    payload: {
      id: `trd-${runId}-${n}`,
      orderId,
      userId: user,
      commodity: "crude_oil",
      quantity,
      price,
      side: "buy",
      status: "executed",
      executionTime: now(),
    },
    timestamp: now(),
    userId: user,
  },
});

// --- simulations and GP economics -----------------------------------------------------------------
const notification = (type, message) => ({ event: "notification", data: { type, message, timestamp: now() } });
const progress = (id, value, total) => ({
  event: "simulation_progress",
  data: {
    simulation_id: id,
    progress: value,
    status: value === 0 ? "queued" : "processing",
    message: `Processing scenario ${Math.round((value / 100) * total)}/${total}`,
    estimated_completion_time: new Date(Date.now() + ((100 - value) / 5) * 1000 * (1 / speed)).toISOString(),
  },
});
const gp = (event, id, extra) => ({
  event: `gp_entity_economics_calculation_${event}`,
  data: { simulation_id: id, timestamp: now(), ...extra },
});
const GP_STEPS = ["load_commitments", "capital_calls", "distribution_waterfall", "carried_interest", "management_fees"];

const trafficLight = (tilt) => ({
  event: "traffic_light_update",
  data: {
    timestamp: now(),
    zone_updates: {
      green: { appreciation_rate: 0.052 + tilt / 100, default_rate: 0.011, risk_score: 0.18 + tilt / 10 },
      amber: { appreciation_rate: 0.031, default_rate: 0.027 + tilt / 100, risk_score: 0.52 + tilt / 10 },
      red: { appreciation_rate: 0.004, default_rate: 0.061 + tilt / 50, risk_score: 0.81 + tilt / 20 },
    },
    market_conditions: {
      interest_rates: tilt > 0 ? "rising" : "stable",
      housing_demand: "strong",
      credit_spreads: tilt > 0 ? "widening" : "tight",
    },
  },
});

log(`Posting demo traffic to ${base}/v1/ingest (open ${base}/ to watch)…`);
await post([
  fund("name", "Equihome Demo Fund I"),
  fund("fee_structure.management_fee_rate", 0.02),
  fund("fee_structure.carried_interest", 0.2),
  fund("fee_structure.hurdle_rate", 0.08),
  fund("target_size", 250_000_000),
  notification("info", "Demo started: two simulations, GP economics, markets and an order"),
  trafficLight(0),
  progress("sim_alpha", 0, 1000),
  progress("sim_beta", 0, 400),
  order("pending", 0),
]);

for (let step = 1; step <= 20; step++) {
  await sleep(1500);
  const alpha = step * 5;
  const events = [progress("sim_alpha", alpha, 1000)];
  if (step % 2 === 0) events.push(progress("sim_beta", alpha, 400));
  if (step === 2) events.push(gp("started", "sim_alpha"), gp("started", "sim_beta"));
  if (step >= 3 && step <= 12 && step % 2 === 1) {
    const i = (step - 3) / 2;
    events.push(
      gp("progress", "sim_alpha", { progress: (i + 1) * 20, step: GP_STEPS[i], message: `Step ${i + 1} of 5` }),
    );
    if (i < 3) events.push(gp("progress", "sim_beta", { progress: (i + 1) * 20, step: GP_STEPS[i] }));
    if (i === 3) {
      events.push(
        gp("failed", "sim_beta", { error: "Capital call schedule missing for LP-7: carry cannot be computed" }),
      );
    }
  }
  if (step === 14) {
    events.push(
      gp("completed", "sim_alpha", {
        summary: { gp_carry: 18_400_000, management_fees: 9_650_000, gp_commitment: 5_000_000, net_irr: 0.162 },
      }),
    );
  }
  if (step === 4) events.push(order("partially_filled", 2000, 74.31), trade(1, 2000, 74.31));
  if (step === 8) events.push(order("partially_filled", 3500, 74.38), trade(2, 1500, 74.46));
  if (step === 11) events.push(order("filled", 5000, 74.4), trade(3, 1500, 74.42));
  if (step === 10) events.push(trafficLight(0.05), notification("warning", "Risk model: rate outlook moved to rising"));
  if (step === 20) {
    events.push({
      event: "simulation_completed",
      data: {
        simulation_id: "sim_alpha",
        status: "completed",
        summary: { scenarios: 1000, irr_p50: 0.142, irr_p10: 0.081, tvpi: 1.87, moic: 1.92, default_rate: 0.018 },
      },
    });
    events.push({
      event: "simulation_completed",
      data: {
        simulation_id: "sim_beta",
        status: "completed",
        summary: { scenarios: 400, irr_p50: 0.118, irr_p10: 0.064, tvpi: 1.61, moic: 1.66, default_rate: 0.024 },
      },
    });
    events.push(notification("success", "Simulations sim_alpha and sim_beta completed"));
  }
  await post(events);
  log(`  simulation sim_alpha ${alpha} %`);
}

ticking = false;
await ticker;
log(`Done: ${posted} events posted. Run it again for more; edit the fund in either pane.`);
