// A minimal Equihome JSON-protocol client: subscribes and prints every frame it receives.
//   npm run listen -- simulation_updates simulation_789 [--url ws://localhost:8787] [--since-seq N]
//   npm run listen -- traffic_light_updates --zones "green red"
// The token is signed with the local secret (.dev.vars) unless --token is given.
import { parseArgs } from "node:util";
import { signLocalToken } from "./local-token.mjs";

const KEY_FIELDS = {
  simulation_updates: "simulation_id",
  gp_entity_updates: "simulation_id",
  portfolio_updates: "portfolio_id",
  fund_updates: "fund_id",
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: "ws://localhost:8787" },
    token: { type: "string" },
    sub: { type: "string", default: "listener" },
    zones: { type: "string" },
    "since-seq": { type: "string" },
  },
});
const [channel = "simulation_updates", key = "simulation_789"] = positionals;
const data = { channel };
if (KEY_FIELDS[channel]) data[KEY_FIELDS[channel]] = key;
if (values.zones) data.zones = values.zones.split(/\s+/).filter(Boolean);
if (values["since-seq"] !== undefined) data.since_seq = Number(values["since-seq"]);

const token = values.token ?? (await signLocalToken({ sub: values.sub }));
const socket = new WebSocket(`${values.url}/v1/ws?token=${encodeURIComponent(token)}`);
socket.addEventListener("open", () => socket.send(JSON.stringify({ event: "subscribe", data, id: "listen_1" })));
socket.addEventListener("message", (event) => console.log(event.data));
socket.addEventListener("close", (event) => {
  console.log(`closed ${event.code} ${event.reason}`);
  process.exit(event.code === 1000 ? 0 : 1);
});
