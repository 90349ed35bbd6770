import type { DevServer } from "./dev-server";

export interface IngestResult {
  event: string;
  channel: string;
  key: string | null;
  seq: number;
  duplicate?: true;
}

/** `POST /v1/ingest` with a publisher token of the run (or `token`). */
export async function ingest(server: DevServer, body: unknown, token?: string): Promise<Response> {
  return fetch(`${server.url}/v1/ingest`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token ?? (await server.sign({ sub: "e2e-publisher", scope: "publish" }))}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

/** Publishes and expects 200; returns the per-event results. */
export async function publish(server: DevServer, body: unknown): Promise<IngestResult[]> {
  const response = await ingest(server, body);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`ingest refused: ${response.status} ${text}`);
  return (JSON.parse(text) as { results: IngestResult[] }).results;
}
