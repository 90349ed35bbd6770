/**
 * `POST /v1/ingest`: publishers post one event or a batch. All or nothing at validation: one
 * bad event refuses the whole request and nothing is delivered. The reply waits until every
 * event is stored by its topic Durable Object, so a 200 means durable.
 */
import { Hono } from "hono";
import { canAccess, hasScope } from "../auth/principal";
import { authConfigFromEnv, bearerToken, verifyToken } from "../auth/verify-token";
import type { BatchError } from "../document/document-durable-object";
import type { Env } from "../env";
import { documentName, type ResourceRef } from "../protocol/equihome/editing";
import { ProtocolError } from "../protocol/errors";
import { type IngestEvent, validateIngestBody } from "../protocol/ingest";
import { MAX_INGEST_BYTES } from "../protocol/limits";
import { topicName } from "../protocol/topics";
import { readBodyLimited } from "./body";

export const ingestRoutes = new Hono<{ Bindings: Env }>();

export interface IngestResult {
  event: string;
  channel: string;
  key: string | null;
  seq: number;
  /** Present and true when the event's id had been accepted before; `seq` is the original. */
  duplicate?: true;
}

ingestRoutes.post("/v1/ingest", async (c) => {
  // Header only: a publisher's token never goes in a URL.
  const principal = await verifyToken(bearerToken(c.req.raw), authConfigFromEnv(c.env));
  if (!hasScope(principal, "publish")) {
    throw new ProtocolError("authorization_error", "The token lacks the publish scope", {
      details: { scope: "publish" },
    });
  }
  const text = await readBodyLimited(c.req.raw, MAX_INGEST_BYTES);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ProtocolError("invalid_message", "Body is not valid JSON");
  }
  const events = validateIngestBody(body);
  const denied = events
    .map((event, index) => ({ index, resource: event.route.resource }))
    .filter(({ resource }) => !canAccess(principal, resource.type, resource.id));
  if (denied.length > 0) {
    throw new ProtocolError("authorization_error", "The token does not reach every resource of the batch", {
      details: {
        errors: denied.map(({ index, resource }) => ({ index, resource: `${resource.type}:${resource.id}` })),
      },
    });
  }
  return c.json({ results: await publishAll(c.env, events) });
});

/**
 * Edits first, one atomic batch per document (checked and applied with nothing in between), then
 * each topic's events in one call, topics in parallel, so a refused edit leaves nothing of the
 * request published. Results come back in request order.
 */
async function publishAll(env: Env, events: IngestEvent[]): Promise<IngestResult[]> {
  const topics = new Map<string, number[]>();
  const documents = new Map<string, number[]>();
  events.forEach((event, index) => {
    const [groups, key] = event.route.document
      ? [documents, documentName(event.route.document)]
      : [topics, topicName(event.route)];
    const indices = groups.get(key);
    if (indices) indices.push(index);
    else groups.set(key, [index]);
  });
  const results: IngestResult[] = new Array(events.length);
  const record = (index: number, seq: number, duplicate: boolean | undefined) => {
    const { event, route } = events[index] as IngestEvent;
    results[index] = { event, channel: route.channel, key: route.key, seq, ...(duplicate ? { duplicate: true } : {}) };
  };
  const applied: number[] = [];
  let unpublished = false;
  for (const [name, indices] of documents) {
    const first = events[indices[0] as number] as IngestEvent;
    const outcome = await env.DOCUMENT.getByName(name).applyBatch(
      first.route.document as ResourceRef,
      indices.map((index) => {
        const { data, id } = events[index] as IngestEvent;
        const edit = data as { path: string; value: unknown; updated_by: string };
        return {
          path: edit.path,
          value: edit.value,
          updatedBy: edit.updated_by,
          ...(id === undefined ? {} : { eventId: id }),
        };
      }),
    );
    if (!outcome.ok) throw refusedEdits(events, indices, outcome.errors, applied);
    for (const [position, { seq, duplicate }] of outcome.results.entries()) {
      const index = indices[position] as number;
      applied.push(index);
      if (seq === null) unpublished = true;
      else record(index, seq, duplicate);
    }
  }
  if (unpublished) {
    // Stored, so never "refused": the document's outbox publishes it when the topic answers.
    throw new ProtocolError("server_error", "The edits are stored; their events are not published yet", {
      details: { issue: "publish_pending", retry: "post the same events, with their ids, to learn their seqs" },
      status: 503,
    });
  }
  await Promise.all(
    [...topics].map(async ([topic, indices]) => {
      const batch = indices.map((index) => events[index] as IngestEvent);
      const published = await env.TOPIC.getByName(topic).publish(
        topic,
        batch.map(({ event, data, id }) => ({ event, data, id })),
      );
      for (const [position, { seq, duplicate }] of published.entries()) {
        record(indices[position] as number, seq, duplicate);
      }
    }),
  );
  return results;
}

/**
 * A document refused its edits (nothing of them was applied). Nothing else of the request was
 * published; only edits of documents earlier in the request, if any, stand: they are listed.
 */
function refusedEdits(
  events: IngestEvent[],
  indices: number[],
  refusals: BatchError[],
  applied: number[],
): ProtocolError {
  const errors = refusals.map(({ position, message, details }) => {
    const index = indices[position] as number;
    return {
      index,
      event: (events[index] as IngestEvent).event,
      // The sentence for people, and the code to switch on.
      issues: [
        {
          path: "data.path",
          message: typeof details?.hint === "string" ? details.hint : message,
          ...(details?.issue === undefined ? {} : { issue: details.issue }),
        },
      ],
    };
  });
  const count = `${errors.length} of ${events.length} events are invalid`;
  return new ProtocolError(
    "invalid_message",
    applied.length === 0 ? `${count}; none was accepted` : `${count}; only the edits listed in applied were`,
    { details: applied.length === 0 ? { errors } : { errors, applied: applied.sort((a, b) => a - b) } },
  );
}
