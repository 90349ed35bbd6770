/**
 * `POST /v1/ingest`: publishers post one event or a batch. All or nothing at validation: one
 * bad event refuses the whole request and nothing is delivered. The reply waits until every
 * event is stored by its topic Durable Object, so a 200 means durable.
 */
import { Hono } from "hono";
import { canAccess, hasScope } from "../auth/principal";
import { authConfigFromEnv, bearerToken, verifyToken } from "../auth/verify-token";
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
 * Publishes each topic's events in one call, topics in parallel; edits go through their
 * documents, one after another per document. Results come back in request order.
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
  await checkEdits(env, events, documents);
  const results: IngestResult[] = new Array(events.length);
  const record = (index: number, seq: number, duplicate: boolean | undefined) => {
    const { event, route } = events[index] as IngestEvent;
    results[index] = { event, channel: route.channel, key: route.key, seq, ...(duplicate ? { duplicate: true } : {}) };
  };
  await Promise.all([
    ...[...topics].map(async ([topic, indices]) => {
      const batch = indices.map((index) => events[index] as IngestEvent);
      const published = await env.TOPIC.getByName(topic).publish(
        topic,
        batch.map(({ event, data, id }) => ({ event, data, id })),
      );
      for (const [position, { seq, duplicate }] of published.entries()) {
        record(indices[position] as number, seq, duplicate);
      }
    }),
    ...[...documents].map(async ([name, indices]) => {
      const stub = env.DOCUMENT.getByName(name);
      for (const index of indices) {
        const { data, id, route } = events[index] as IngestEvent;
        const edit = data as { path: string; value: unknown; updated_by: string };
        const result = await stub.applyEdit(route.document as ResourceRef, {
          path: edit.path,
          value: edit.value,
          updatedBy: edit.updated_by,
          ...(id === undefined ? {} : { eventId: id }),
        });
        if (result.error || result.seq === null) {
          throw new ProtocolError(
            "server_error",
            `Edit ${index} was refused after its check: ${result.error?.message}`,
          );
        }
        record(index, result.seq, result.duplicate);
      }
    }),
  ]);
  return results;
}

/**
 * Asks each document whether its edits would apply (a path may run through an existing value),
 * so a batch with an impossible edit is refused whole before anything is written.
 */
async function checkEdits(env: Env, events: IngestEvent[], documents: Map<string, number[]>): Promise<void> {
  const errors: { index: number; event: string; issues: { path: string; message: string }[] }[] = [];
  await Promise.all(
    [...documents].map(async ([name, indices]) => {
      const first = events[indices[0] as number] as IngestEvent;
      const edits = indices.map((index) => {
        const { path, value } = (events[index] as IngestEvent).data as { path: string; value: unknown };
        return { path, value };
      });
      const problems = await env.DOCUMENT.getByName(name).check(first.route.document as ResourceRef, edits);
      problems.forEach((problem, position) => {
        const index = indices[position] as number;
        if (problem !== null) {
          errors.push({
            index,
            event: (events[index] as IngestEvent).event,
            issues: [{ path: "data.path", message: problem }],
          });
        }
      });
    }),
  );
  if (errors.length > 0) {
    errors.sort((a, b) => a.index - b.index);
    throw new ProtocolError(
      "invalid_message",
      `${errors.length} of ${events.length} events are invalid; none was accepted`,
      {
        details: { errors },
      },
    );
  }
}
