/**
 * The OpenAPI 3.1 document of the HTTP routes (`POST /v1/ingest`, `GET /v1/resources/…`,
 * `GET /healthz`), generated from the valibot schemas the server validates with: the ingest
 * envelope and every INGEST_EVENTS schema are converted as they are, so the document cannot
 * drift from what the server accepts. Pure (no hono, no cloudflare): routes/openapi.ts serves it.
 *
 * What JSON Schema cannot say (a valibot `check` or `custom` runs a function) is described, not
 * dropped silently: the schema gets the check's own message as its `description`, and the
 * server still enforces it. `finite` is left out: a JSON number is always finite.
 */
import {
  type ConversionConfig,
  type JsonSchema,
  type OverrideActionContext,
  type OverrideSchemaContext,
  toJsonSchemaDefs,
} from "@valibot/to-json-schema";
import * as v from "valibot";
import { EDITABLE_RESOURCES } from "./equihome/editing";
import { ERROR_CODES, ISSUE_CODES, type IssueCode } from "./errors";
import { INGEST_EVENTS, IngestEnvelopeSchema } from "./ingest";
import { MAX_INGEST_BATCH, MAX_INGEST_BYTES } from "./limits";
import { IdSchema } from "./schemas";

export const OPENAPI_PATH = "/openapi.json";

/** Component name of the request schema of one ingest event (`IngestEvent.simulation_progress`). */
export const ingestEventComponent = (event: string): string => `IngestEvent.${event}`;

// biome-ignore lint/suspicious/noExplicitAny: the converter takes any valibot schema
type AnySchema = v.GenericSchema<unknown, any>;

/** Each ingest event as posted: the server's envelope with `event` fixed and `data` its schema. */
function ingestEventVariants(): Record<string, v.VariantOptions<"event">[number]> {
  return Object.fromEntries(
    Object.entries(INGEST_EVENTS).map(([event, spec]) => [
      ingestEventComponent(event),
      v.strictObject({ ...IngestEnvelopeSchema.entries, event: v.literal(event), data: spec.schema }),
    ]),
  );
}

const ErrorBody = v.strictObject({
  error: v.strictObject({
    code: v.picklist(Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]),
    message: v.string(),
    details: v.optional(
      v.looseObject({
        issue: v.optional(
          v.pipe(
            v.picklist(Object.keys(ISSUE_CODES) as IssueCode[]),
            v.description("What exactly was refused: a stable code (docs/PROTOCOL.md, Issues)."),
          ),
        ),
      }),
    ),
  }),
});

const IngestResult = v.strictObject({
  event: v.string(),
  channel: v.string(),
  key: v.nullable(v.string()),
  seq: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  duplicate: v.optional(v.literal(true)),
});

const ResourceType = v.picklist(Object.keys(EDITABLE_RESOURCES) as (keyof typeof EDITABLE_RESOURCES)[]);

const ResourceDocument = v.strictObject({
  resource_type: ResourceType,
  resource_id: IdSchema,
  document: v.record(v.string(), v.unknown()),
});

const Health = v.strictObject({ status: v.literal("ok") });

function describe(jsonSchema: JsonSchema, message: unknown, fallback: string): JsonSchema {
  const text = typeof message === "string" && message.length > 0 ? message : fallback;
  return { ...jsonSchema, description: jsonSchema.description ? `${jsonSchema.description}; ${text}` : text };
}

/** What the converter could not express: "<kind> <message>" for each, in conversion order. */
export interface OpenApiBuild {
  document: Record<string, unknown>;
  described: string[];
}

/**
 * Builds the document. `errorMode` is the converter's policy for anything neither converted nor
 * described here (a transform, say): served with "warn" so the route never fails; the tests
 * build with "throw" so such a field cannot slip into the document unnoticed.
 */
export function buildOpenApiDocument(errorMode: "throw" | "warn" = "warn"): OpenApiBuild {
  const described: string[] = [];
  const variants = ingestEventVariants();
  const IngestEvent = v.variant("event", Object.values(variants));
  const IngestRequest = v.union([
    IngestEvent,
    v.pipe(v.array(IngestEvent), v.minLength(1), v.maxLength(MAX_INGEST_BATCH)),
  ]);
  const definitions: Record<string, AnySchema> = {
    ...variants,
    IngestEvent,
    IngestRequest,
    IngestResponse: v.strictObject({ results: v.array(IngestResult) }),
    Error: ErrorBody,
    ResourceDocument,
    ResourceType,
    Id: IdSchema,
    Health,
  };
  const config: ConversionConfig = {
    target: "draft-2020-12",
    // No pipeline here transforms, so input and output types agree; "output" lets a pipe that
    // narrows a custom object check to a record (`Summary`) convert as the record.
    typeMode: "output",
    errorMode,
    ignoreActions: ["finite"],
    overrideAction: ({ valibotAction, jsonSchema, errors }: OverrideActionContext) => {
      if (!errors || valibotAction.type !== "check") return undefined;
      const message = (valibotAction as { message?: unknown }).message;
      described.push(`check: ${String(message)}`);
      return describe(jsonSchema, message, "checked by the server");
    },
    overrideSchema: ({ valibotSchema, jsonSchema, errors }: OverrideSchemaContext) => {
      if (!errors || valibotSchema.type !== "custom") return undefined;
      const message = (valibotSchema as { message?: unknown }).message;
      described.push(`custom: ${String(message)}`);
      return describe(jsonSchema, message, "checked by the server");
    },
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  };
  const schemas = toJsonSchemaDefs(definitions, config);
  for (const [name, schema] of Object.entries(schemas)) {
    if (schema.$defs) throw new Error(`OpenAPI: ${name} needs local definitions`);
  }
  const ingestEvent = schemas.IngestEvent as JsonSchema;
  schemas.IngestEvent = {
    ...ingestEvent,
    description: "One event; `event` picks the schema of `data`.",
    discriminator: {
      propertyName: "event",
      mapping: Object.fromEntries(
        Object.keys(INGEST_EVENTS).map((event) => [event, `#/components/schemas/${ingestEventComponent(event)}`]),
      ),
    },
  } as JsonSchema;
  schemas.IngestRequest = {
    ...schemas.IngestRequest,
    description: `One event, or an array of 1 to ${MAX_INGEST_BATCH} events; at most ${MAX_INGEST_BYTES} bytes of UTF-8 JSON. All or nothing: one invalid event refuses the whole body.`,
  };

  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const json = (name: string, description: string) => ({
    description,
    content: { "application/json": { schema: ref(name) } },
  });
  const error = (description: string) => json("Error", description);

  const document = {
    openapi: "3.1.0",
    info: {
      title: "realtime-edge HTTP API",
      version: "v1",
      description:
        "The HTTP routes of realtime-edge, generated from the schemas the server validates with. The WebSocket, y-websocket and Socket.IO protocols are in docs/PROTOCOL.md. Where a schema has a `description` and no keyword for a rule, the server checks that rule in code (the description says what it accepts).",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths: {
      "/v1/ingest": {
        post: {
          operationId: "ingest",
          summary: "Publish one event or a batch",
          description:
            "Checks the token, its `publish` scope, the body and the token's `resources`, in that order; the first failure decides the reply. A 200 means every event is stored. Events with an `id` are deduplicated per channel and key for 15 minutes.",
          security: [{ bearer: [] }],
          requestBody: { required: true, content: { "application/json": { schema: ref("IngestRequest") } } },
          responses: {
            "200": json("IngestResponse", "Stored: one result per event, in request order."),
            "400": error("`invalid_message`: not UTF-8 JSON, an empty batch, or invalid events (`details.errors`)."),
            "401": error("`authentication_error`: no valid token (`details.reason`)."),
            "403": error(
              "`authorization_error`: the token lacks the `publish` scope, or its `resources` do not reach every event (`details.errors`).",
            ),
            "413": error(
              `\`invalid_message\`: body over ${MAX_INGEST_BYTES} bytes or over ${MAX_INGEST_BATCH} events.`,
            ),
            "500": error("`server_error`: a store failed; retrying events with an `id` is safe."),
            "503": error(
              "`server_error`: `details.issue` `publish_pending` (edits stored, not yet published: post the same events again, with their ids, to learn their seqs), or the JWK set is unavailable.",
            ),
          },
        },
      },
      "/v1/resources/{resource_type}/{resource_id}": {
        get: {
          operationId: "readResource",
          summary: "Read a fund's or portfolio's shared document as JSON",
          security: [{ bearer: [] }, { queryToken: [] }],
          parameters: [
            { name: "resource_type", in: "path", required: true, schema: ref("ResourceType") },
            { name: "resource_id", in: "path", required: true, schema: ref("Id") },
          ],
          responses: {
            "200": json("ResourceDocument", "The document (the JSON form of its `data` map)."),
            "401": error("`authentication_error`: no valid token (`details.reason`)."),
            "403": error("`authorization_error`: the token's `resources` do not reach the resource."),
            "404": error(
              "`resource_not_found`: not an editable resource type or id, or the document was never written.",
            ),
            "500": error("`server_error`."),
            "503": error("`server_error`: the JWK set is unavailable."),
          },
        },
      },
      "/healthz": {
        get: {
          operationId: "health",
          summary: "Liveness",
          security: [],
          responses: { "200": json("Health", "The Worker answers.") },
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        queryToken: {
          type: "apiKey",
          in: "query",
          name: "token",
          description: "The JWT in `?token=`, for clients that cannot set headers (not accepted by ingest).",
        },
      },
    },
  };
  return { document, described };
}
