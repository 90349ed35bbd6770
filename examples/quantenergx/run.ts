// The QuantEnergx example: the seed's TypeScript client (seed-client.ts, the QuantEnergx
// protocol document's "Client Implementation / JavaScript/TypeScript"), unchanged, with
// socket.io-client in Node >= 22 (Node runs this TypeScript file itself). The class logs what
// it receives; this script plays a market data feed and the trading back end: every 2 s it
// publishes ticks for crude_oil and natural_gas, and an order or trade update for the user,
// through POST /v1/ingest (and now and then a system alert; see feed.ts). Until Ctrl-C.
//   npm run example -- quantenergx [--url http://127.0.0.1:8787] [--user user-123]
import { onStop, publishEvery, settings } from "../common.ts";
import { marketFeed } from "./feed.ts";
import { QuantEnergxWebSocket } from "./seed-client.ts";

const config = settings();
// The token's `sub` must equal the userId the client authenticates as (npm run example signs it so).
const client = new QuantEnergxWebSocket(config.server, config.userId, config.token);

// The client subscribes once authenticated; whatever it misses of the first ticks it gets at
// once when it subscribes (the latest tick of each commodity), and the next rounds live.
const stopFeed = publishEvery(config, 2_000, marketFeed(config.userId));

onStop(() => {
  stopFeed();
  client.disconnect();
});
