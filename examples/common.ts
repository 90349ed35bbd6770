// What every Node example needs besides its client: where the service is, the tokens, a way to
// publish through POST /v1/ingest, and a clean stop on Ctrl-C. `npm run example -- NAME` sets
// the environment (scripts/example.mjs); to run an example's file directly, set it yourself:
//   SERVER=http://127.0.0.1:8787 USER_ID=user-123 TOKEN=… PUBLISH_TOKEN=… node examples/equihome/run.mjs
// (TOKEN=$(npm run -s token -- --sub user-123), PUBLISH_TOKEN=$(npm run -s token -- --sub demo-feed --scope publish)).

export interface Settings {
  /** The service's origin, `http://host:port` (what `npm run dev` listens on by default). */
  server: string;
  userId: string;
  /** A user's token: its `sub` is USER_ID. */
  token: string;
  /** A publisher's token (scope `publish`), for POST /v1/ingest. */
  publishToken: string;
}

/** Reads the example's settings from the environment; exits with a hint when a token is missing. */
export function settings(): Settings {
  const missing = ["TOKEN", "PUBLISH_TOKEN"].filter((name) => !process.env[name]);
  if (missing.length > 0) {
    console.error(
      `${missing.join(" and ")} not set: run the example with \`npm run example -- NAME\` (it signs them).`,
    );
    process.exit(2);
  }
  return {
    server: (process.env.SERVER ?? "http://127.0.0.1:8787").replace(/\/+$/, ""),
    userId: process.env.USER_ID ?? "user-123",
    token: String(process.env.TOKEN),
    publishToken: String(process.env.PUBLISH_TOKEN),
  };
}

/**
 * Posts events to /v1/ingest as a publisher would (the simulation engine, a market feed) and
 * prints one line per event: `published <event> seq <n>`. Throws on anything but 200.
 */
export async function publish({ server, publishToken }: Settings, events: unknown): Promise<void> {
  const response = await fetch(`${server}/v1/ingest`, {
    method: "POST",
    headers: { Authorization: `Bearer ${publishToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(events),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /v1/ingest answered ${response.status}: ${text}`);
  const { results } = JSON.parse(text) as { results: { event: string; seq: number; duplicate?: true }[] };
  for (const result of results) {
    console.log(`  → published ${result.event} seq ${result.seq}${result.duplicate ? " (duplicate)" : ""}`);
  }
}

/**
 * Publishes `next()` now and then every `ms` milliseconds, as a feed would; a round that fails
 * is printed and the next one tried. Returns what stops it.
 */
export function publishEvery(config: Settings, ms: number, next: () => unknown): () => void {
  const round = async () => {
    try {
      await publish(config, next());
    } catch (error) {
      console.error(`publishing failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const timer = setInterval(round, ms);
  void round();
  return () => clearInterval(timer);
}

/** Runs `stop` once on Ctrl-C (SIGINT) or SIGTERM, then exits 0. */
export function onStop(stop: () => unknown): void {
  let stopping = false;
  const handler = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await stop();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
