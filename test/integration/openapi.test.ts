/**
 * `GET /openapi.json`: the document is served without a token, describes the three HTTP routes,
 * has a request variant for every ingest event, and agrees with the server on real traffic: the
 * bodies the ingest tests post validate against the generated JSON Schema and are accepted, the
 * bodies the server refuses do not validate, and the server's replies match the response schemas.
 */

import { exports } from "cloudflare:workers";
import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import { INGEST_EVENTS } from "../../src/protocol/ingest";
import { MAX_INGEST_BATCH } from "../../src/protocol/limits";
import { buildOpenApiDocument, ingestEventComponent } from "../../src/protocol/openapi";
import { complianceAlert, marketUpdate, orderUpdate, systemAlert, tradeUpdate } from "../fixtures/quantenergx-events";
import { ingest, progress, unique } from "../helpers/client";

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

async function fetchDocument(): Promise<{ response: Response; document: OpenApiDocument }> {
  const response = await exports.default.fetch("http://edge.test/openapi.json");
  return { response, document: (await response.clone().json()) as OpenApiDocument };
}

/** A validator for one component; the components become `$defs` so their `$ref`s resolve. */
function validatorFor(document: OpenApiDocument, component: string): Validator {
  const $defs = JSON.parse(
    JSON.stringify(document.components.schemas).replaceAll('"#/components/schemas/', '"#/$defs/'),
  ) as Record<string, unknown>;
  return new Validator({ $defs, $ref: `#/$defs/${component}` }, "2020-12", false);
}

/** The bodies the ingest, channel and collaboration tests post, through their fixtures. */
function acceptedBodies(): unknown[] {
  const sim = unique("simulation");
  const at = "2023-01-01T12:00:00Z";
  return [
    progress(sim, 45),
    progress(sim, 45, { estimated_completion_time: "2023-01-01T00:05:00Z" }),
    { ...progress(sim, 5), id: "evt-1" },
    [
      progress(sim, 1),
      { event: "gp_entity_economics_calculation_started", data: { simulation_id: sim, timestamp: at } },
      progress(unique("sim_b"), 1),
    ],
    { event: "notification", data: { type: "info", message: "hi", timestamp: "2023-01-01T00:00:00Z" } },
    {
      event: "simulation_completed",
      data: { simulation_id: sim, status: "completed", summary: { mean_irr: 0.13, median_irr: 0.12 } },
    },
    {
      event: "traffic_light_update",
      data: {
        timestamp: at,
        zone_updates: { green: { appreciation_rate: 0.035, default_rate: 0.015, risk_score: 2 } },
        market_conditions: { interest_rate_environment: "rising" },
      },
    },
    {
      event: "resource_updated",
      id: "calc-1",
      data: {
        resource_type: "fund",
        resource_id: unique("fund"),
        path: "computed.irr",
        value: 0.14,
        updated_by: "simulation-engine",
      },
    },
    marketUpdate("crude_oil", 75.5),
    tradeUpdate("user-123"),
    orderUpdate("user-123"),
    systemAlert("Unusual volatility detected in crude oil markets"),
    complianceAlert("user-123"),
  ];
}

describe("GET /openapi.json", () => {
  it("serves an OpenAPI 3.1 document of the three HTTP routes without a token", async () => {
    const { response, document } = await fetchDocument();
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths).sort()).toEqual(
      ["/healthz", "/v1/ingest", "/v1/resources/{resource_type}/{resource_id}"].sort(),
    );
    expect(Object.keys(document.paths["/v1/ingest"] ?? {})).toEqual(["post"]);
    expect(Object.keys(document.paths["/v1/resources/{resource_type}/{resource_id}"] ?? {})).toEqual(["get"]);
    expect(Object.keys(document.paths["/healthz"] ?? {})).toEqual(["get"]);
    const again = await exports.default.fetch("http://edge.test/openapi.json");
    expect(await again.text()).toBe(await response.text());
  });

  it("has a request variant for every ingest event, discriminated by event", async () => {
    const { document } = await fetchDocument();
    const schemas = document.components.schemas;
    const union = schemas.IngestEvent as { oneOf: { $ref: string }[]; discriminator: { mapping: object } };
    const names = Object.keys(INGEST_EVENTS);
    expect(union.oneOf.map((option) => option.$ref)).toEqual(
      names.map((name) => `#/components/schemas/${ingestEventComponent(name)}`),
    );
    expect(Object.keys(union.discriminator.mapping)).toEqual(names);
    for (const name of names) {
      const variant = schemas[ingestEventComponent(name)] as { properties: { event: { const: string } } };
      expect(variant.properties.event.const).toBe(name);
    }
  });

  it("builds with nothing left unconverted or undescribed", () => {
    const { described } = buildOpenApiDocument("throw");
    expect(described.length).toBeGreaterThan(0);
  });

  it("validates every body the server accepts, and the server's replies", async () => {
    const { document } = await fetchDocument();
    const request = validatorFor(document, "IngestRequest");
    const reply = validatorFor(document, "IngestResponse");
    for (const body of acceptedBodies()) {
      expect(request.validate(body).errors, JSON.stringify(body)).toEqual([]);
      const response = await ingest(body);
      const answer = await response.json();
      expect(response.status, JSON.stringify(answer)).toBe(200);
      expect(reply.validate(answer).errors).toEqual([]);
    }
  });

  it("does not validate bodies the server refuses, whose error replies match the Error schema", async () => {
    const { document } = await fetchDocument();
    const request = validatorFor(document, "IngestRequest");
    const error = validatorFor(document, "Error");
    const sim = unique("simulation");
    const refused: [unknown, number][] = [
      [progress(sim, 150), 400],
      [{ event: "no_such_event", data: {} }, 400],
      [{ ...progress(sim, 1), extra: true }, 400],
      [{ ...progress(sim, 1), id: 7 }, 400],
      [{ event: "simulation_progress", data: { simulation_id: sim, progress: 1 } }, 400],
      [{ ...tradeUpdate("user-123"), data: { ...tradeUpdate("user-123").data, side: "hold" } }, 400],
      [[], 400],
      [Array.from({ length: MAX_INGEST_BATCH + 1 }, (_, i) => progress(sim, i % 100)), 413],
    ];
    for (const [body, status] of refused) {
      expect(request.validate(body).valid, JSON.stringify(body).slice(0, 200)).toBe(false);
      const response = await ingest(body);
      expect(response.status).toBe(status);
      expect(error.validate(await response.json()).errors).toEqual([]);
    }
  });

  it("lists the issue codes an error's details.issue may hold, and no sentence", async () => {
    const { document } = await fetchDocument();
    const error = validatorFor(document, "Error");
    const refusal = (issue: string) => ({ error: { code: "invalid_message", message: "m", details: { issue } } });
    expect(error.validate(refusal("batch_too_large")).errors).toEqual([]);
    expect(error.validate(refusal("publish_pending")).errors).toEqual([]);
    expect(error.validate(refusal("Missing simulation_id")).valid).toBe(false);
    expect(error.validate({ error: { code: "invalid_message", message: "m", details: { limit: 1 } } }).valid).toBe(
      true,
    );
  });
});
