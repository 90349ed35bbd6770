/**
 * `POST /v1/ingest`: publishers post one event or a batch. All or nothing at validation: one
 * bad event refuses the whole request and nothing is delivered. The reply waits until every
 * event is stored by its topic Durable Object, so a 200 means durable (ingest/publish.ts).
 */
import { Hono } from "hono";
import { canAccess, hasScope } from "../auth/principal";
import { authConfigFromEnv, bearerToken, verifyToken } from "../auth/verify-token";
import type { Env } from "../env";
import { publishAll } from "../ingest/publish";
import { ProtocolError } from "../protocol/errors";
import { validateIngestBody } from "../protocol/ingest";
import { MAX_INGEST_BYTES } from "../protocol/limits";
import { readBodyLimited } from "./body";

export const ingestRoutes = new Hono<{ Bindings: Env }>();

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
