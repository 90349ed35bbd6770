/**
 * The collaborative-editing rules of the contract, pure: which resources are editable, what a
 * path is, how large a value may be. Each refusal is a ProtocolError in the seed's vocabulary.
 */
import * as v from "valibot";
import { ProtocolError } from "../errors";
import { MAX_EDIT_VALUE_BYTES, MAX_PATH_DEPTH } from "../limits";
import { exceedsBytes, IdSchema } from "./codec";

/** Resource types with a shared document, and the channel their updates go to. */
export const EDITABLE_RESOURCES = {
  fund: { channel: "fund_updates" },
  portfolio: { channel: "portfolio_updates" },
} as const;

export type EditableResourceType = keyof typeof EDITABLE_RESOURCES;

export interface ResourceRef {
  resource_type: EditableResourceType;
  resource_id: string;
}

const SEGMENT = /^[a-z_][a-z0-9_]*$/;
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);

export function isEditableResourceType(type: string): type is EditableResourceType {
  return Object.hasOwn(EDITABLE_RESOURCES, type);
}

/** `fund:fund_123`: the document Durable Object's name. */
export function documentName({ resource_type, resource_id }: ResourceRef): string {
  return `${resource_type}:${resource_id}`;
}

/** Parses `{resource_type, resource_id}`; unknown types are `resource_not_found`. */
export function parseResourceRef(data: Record<string, unknown>): ResourceRef {
  const type = data.resource_type;
  if (typeof type !== "string") {
    throw new ProtocolError("invalid_message", "resource_type is required", {
      details: { issue: "Missing resource_type" },
    });
  }
  if (!isEditableResourceType(type)) {
    throw new ProtocolError("resource_not_found", `No editable resources of type "${type}"`, {
      details: { resource_type: type, types: Object.keys(EDITABLE_RESOURCES) },
    });
  }
  const id = v.safeParse(IdSchema, data.resource_id);
  if (!id.success) {
    throw new ProtocolError("invalid_message", `Invalid resource_id: ${id.issues[0]?.message ?? "invalid"}`, {
      details: { issue: "Invalid resource_id" },
    });
  }
  return { resource_type: type, resource_id: id.output };
}

/** Splits and checks a path: `[a-z_][a-z0-9_]*` segments joined by `.`, depth ≤ MAX_PATH_DEPTH. */
export function parsePath(path: unknown): string[] {
  if (typeof path !== "string" || path.length === 0) {
    throw pathError("path must be a non-empty string");
  }
  const segments = path.split(".");
  if (segments.length > MAX_PATH_DEPTH) throw pathError(`path is deeper than ${MAX_PATH_DEPTH} segments`);
  for (const segment of segments) {
    if (FORBIDDEN_SEGMENTS.has(segment)) throw pathError(`path segment "${segment}" is not allowed`);
    if (!SEGMENT.test(segment)) throw pathError(`path segment "${segment}" must match [a-z_][a-z0-9_]*`);
  }
  return segments;
}

/** A leaf value: any JSON value (it arrived as JSON) whose encoding fits MAX_EDIT_VALUE_BYTES. */
export function checkValue(value: unknown): void {
  if (value === undefined)
    throw new ProtocolError("invalid_message", "value is required", { details: { issue: "Missing value" } });
  if (exceedsBytes(JSON.stringify(value), MAX_EDIT_VALUE_BYTES)) {
    throw new ProtocolError("invalid_message", `value is over ${MAX_EDIT_VALUE_BYTES} bytes`, {
      details: { issue: "value_too_large", limit: MAX_EDIT_VALUE_BYTES },
    });
  }
}

function pathError(issue: string): ProtocolError {
  return new ProtocolError("invalid_message", "Invalid path", { details: { issue } });
}
