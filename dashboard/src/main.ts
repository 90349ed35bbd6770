/**
 * The dashboard: one page that watches the service work. Equihome feeds and the JSON pane
 * through the client SDK (one `/v1/ws` socket), QuantEnergx markets, orders and trades through
 * socket.io-client, the fund's Yjs pane through y-websocket, and the operations panel through
 * `GET /v1/admin/stats`. Served by the Worker's static assets (wrangler.jsonc "assets"), so
 * every request is same-origin.
 */
import { readConfig } from "./config";
import { find, formatTime, setLink } from "./dom";
import { startFeeds } from "./feeds";
import { startJsonPane } from "./fund-json";
import { startYjsPane } from "./fund-yjs";
import { createClient } from "./json-client";
import { startMarket } from "./market";
import { startOps } from "./ops";
import { DevTokensOff, type Identity, readClaims, Tokens } from "./tokens";

const config = readConfig(location.search);
const tokens = new Tokens();
const main: Identity = { sub: config.user, email: `${config.user}@dashboard.local`, scope: "edit admin" };
const yjs: Identity = { sub: config.yjsUser, email: `${config.yjsUser}@dashboard.local`, scope: "edit" };

const tokenInput = find<HTMLInputElement>("#token");
const tokenInfo = find("#token-info");
const errors = find("#errors");

function showError(message: string): void {
  const line = document.createElement("p");
  line.textContent = message;
  errors.prepend(line);
  while (errors.children.length > 3) errors.lastElementChild?.remove();
  setTimeout(() => line.remove(), 15_000);
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

let stopAll: (() => void) | null = null;

/** Empties every panel, for a fresh start with another token. */
function resetPanels(): void {
  for (const node of document.querySelectorAll("[data-empty], #traffic .conditions, #ops .totals, #ops tbody")) {
    node.replaceChildren();
  }
  for (const form of document.querySelectorAll(".pane form")) form.replaceChildren();
  for (const node of document.querySelectorAll(".pane .editors, .pane .doc, #ops .ops-note")) node.textContent = "";
}

async function start(): Promise<void> {
  stopAll?.();
  resetPanels();
  const client = createClient({
    url: `${location.origin.replace(/^http/, "ws")}/v1/ws`,
    token: () => tokens.get(main),
  });
  setLink("json", "connecting");
  client.on("open", () => setLink("json", "open", "/v1/ws (client SDK)"));
  client.on("close", (info) =>
    setLink("json", info.reconnecting ? "connecting" : "error", `closed ${info.code} ${info.reason}`),
  );
  client.on("error", (error) => showError(`JSON: ${error.message}`));
  client.on("reload", (info) =>
    showError(`JSON: events of ${info.channel} ${info.key ?? ""} were missed; state reloaded`),
  );

  delete document.body.dataset.feeds;
  startFeeds(client, config.simulations).then(
    () => {
      // Every feed's subscription is confirmed (the end-to-end test waits for this).
      document.body.dataset.feeds = "subscribed";
    },
    (error: unknown) => showError(`Feeds: ${describe(error)}`),
  );
  startJsonPane(client, config.fund, showError).catch((error: unknown) => showError(`JSON pane: ${describe(error)}`));
  const market = startMarket(config.commodities, () => tokens.get(main), showError);
  let yjsPane: ReturnType<typeof startYjsPane> | null = null;
  try {
    yjsPane = startYjsPane(config.fund, config.yjsUser, () => tokens.get(yjs), await tokens.get(yjs), showError);
  } catch (error) {
    showError(`Yjs pane: ${describe(error)}`);
  }
  const stopOps = startOps(() => tokens.get(main));
  // Socket.IO: authenticate the open session again before a (dev) token runs out.
  const renew = setInterval(() => void market.refresh().catch(() => undefined), 5 * 60_000);
  stopAll = () => {
    clearInterval(renew);
    stopOps();
    market.close();
    yjsPane?.close();
    client.close();
  };
}

function showToken(token: string, dev: boolean): void {
  const claims = readClaims(token);
  tokenInfo.textContent = claims
    ? `sub ${claims.sub} · scope "${claims.scope}" · expires ${formatTime(new Date(claims.exp * 1000).toISOString())}${dev ? " · DEV TOKEN" : ""}`
    : "not a JWT";
  find("#dev-banner").hidden = !dev;
}

async function mintDevTokens(): Promise<boolean> {
  try {
    const token = await tokens.takeDev(main);
    tokenInput.value = "";
    tokenInput.placeholder = "using dev tokens (DEV ONLY helper); paste a token to use yours instead";
    showToken(token, true);
    await start();
    return true;
  } catch (error) {
    if (error instanceof DevTokensOff) {
      tokenInfo.textContent = "The dev token helper is off (it is on only under npm run dev): paste a token.";
    } else {
      showError(`Dev token: ${describe(error)}`);
    }
    return false;
  }
}

find("#connect").addEventListener("click", () => {
  try {
    tokens.takeManual(tokenInput.value);
    showToken(tokenInput.value.trim(), false);
    void start();
  } catch (error) {
    showError(describe(error));
  }
});
tokenInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") find("#connect").click();
});
find("#dev-token").addEventListener("click", () => void mintDevTokens());

find("#fund-id").textContent = config.fund;
find("#config").textContent =
  `watching simulations ${config.simulations.join(", ")} · fund ${config.fund} · commodities ${config.commodities.join(", ")} · ` +
  `change with ?sims=a,b&fund=f&commodities=x,y`;

// With no setup under `npm run dev`: the dev helper, when the server has it.
void mintDevTokens();
