/**
 * The React example's page: the QuantEnergx protocol document's hook, `useQuantEnergxWebSocket`
 * (use-quantenergx-websocket.ts, verbatim), and what it returns, rendered. serve.ts bundles this
 * file with esbuild and serves it with /config.json, which says where the service is and which
 * token to use; in an app these come from your own configuration and login.
 */
import { createRoot } from "react-dom/client";
import { useQuantEnergxWebSocket } from "./use-quantenergx-websocket";

interface Config {
  server: string;
  userId: string;
  token: string;
}

function App({ server, userId, token }: Config) {
  // The hook connects, authenticates, subscribes to crude_oil and natural_gas and the user's
  // orders; it keeps the latest tick per commodity, the orders and the alerts.
  const { connected, marketData, orders, alerts } = useQuantEnergxWebSocket(server, userId, token);
  return (
    <main style={{ fontFamily: "sans-serif", margin: "1rem", maxWidth: "48rem" }}>
      <h1>QuantEnergx market (useQuantEnergxWebSocket)</h1>
      <p>
        <code>{server}</code> as <code>{userId}</code>:{" "}
        <strong id="connected">{connected ? "connected" : "not connected"}</strong>
      </p>
      <table id="market" border={1} cellPadding={4}>
        <thead>
          <tr>
            <th>commodity</th>
            <th>price</th>
            <th>change</th>
            <th>bid</th>
            <th>ask</th>
            <th>volume</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(marketData).map(([commodity, tick]) => (
            <tr key={commodity} data-commodity={commodity}>
              <td>{commodity}</td>
              <td className="price">{String(tick.price)}</td>
              <td>{String(tick.changePercent)} %</td>
              <td>{String(tick.bid)}</td>
              <td>{String(tick.ask)}</td>
              <td>{String(tick.volume)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>alerts ({alerts.length})</h2>
      <ul id="alerts">
        {alerts.map((alert, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: alerts have no id; the list only grows at the front
          <li key={alerts.length - index}>
            [{String(alert.severity)}] {String(alert.message)}
          </li>
        ))}
      </ul>
      <h2>orders ({orders.length})</h2>
      <p>
        The hook only updates orders it already holds, and it starts with none: load the user's orders from your own
        back end into it to see their updates here.
      </p>
    </main>
  );
}

const root = document.getElementById("root");
if (!root) throw new Error("no #root");
const config = (await (await fetch("/config.json")).json()) as Config;
createRoot(root).render(<App {...config} />);
