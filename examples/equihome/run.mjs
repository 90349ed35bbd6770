// The Equihome example: the seed's browser client (seed-client.js, the Equihome protocol
// document's "Client-Side Implementation") run in Node >= 22, whose global WebSocket is the
// browser's. It subscribes to simulation_updates for simulation_789; once subscribed, this
// script plays the simulation engine and publishes a run from 0 to 100 % and its completion
// through POST /v1/ingest. Then it keeps listening until Ctrl-C.
//   npm run example -- equihome [--url http://127.0.0.1:8787] [--user user-123]
import { onStop, publish, settings, sleep } from "../common.ts";
import { startSeedClient } from "./seed-client.js";

const config = settings();
const SIMULATION = "simulation_789"; // the seed's client subscribes to this one
const wsOrigin = config.server.replace(/^http/, "ws");

/** What the seed's client calls but does not define: here a text progress bar and the summary. */
function updateProgressBar(progress) {
  const filled = Math.round(progress / 5);
  console.log(`[${"#".repeat(filled)}${" ".repeat(20 - filled)}] ${progress}%`);
}
function showResults(summary) {
  console.log(`results: ${JSON.stringify(summary)}`);
}

let published = false;
const socket = startSeedClient({
  wsOrigin,
  token: config.token,
  updateProgressBar,
  showResults,
  console: {
    log: (...args) => {
      console.log(...args);
      // The seed's client logs this when the server confirms its subscription: start the run.
      if (args[0] === "Subscribed to simulation_updates" && !published) {
        published = true;
        runSimulation().catch((error) => console.error(`publishing failed: ${error.message}`));
      }
    },
    error: (...args) => console.error(...args),
  },
  setInterval,
});
socket.addEventListener("close", (event) => {
  if (event.code !== 1000) console.error(`closed ${event.code} ${event.reason}`);
  process.exit(event.code === 1000 ? 0 : 1);
});

/** What the simulation engine would post: progress every 10 %, then the completion. */
async function runSimulation() {
  console.log(`publishing a simulation run of ${SIMULATION} through POST /v1/ingest`);
  for (let progress = 0; progress <= 100; progress += 10) {
    await publish(config, {
      event: "simulation_progress",
      data: {
        simulation_id: SIMULATION,
        progress,
        status: progress < 100 ? "processing" : "finalizing",
        message: `Processing scenario ${progress * 10}/1000`,
      },
    });
    await sleep(250);
  }
  await publish(config, {
    event: "simulation_completed",
    data: {
      simulation_id: SIMULATION,
      status: "completed",
      summary: { mean_irr: 0.13, median_irr: 0.12, irr_std_dev: 0.02 },
    },
  });
  console.log("done; listening for more (post to /v1/ingest yourself, see README), Ctrl-C to stop");
}

onStop(() => socket.close(1000, "bye"));
