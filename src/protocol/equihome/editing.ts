/**
 * The collaborative-editing rules of the contract, pure: which resources are editable, what a
 * path is, how large a value may be. Each refusal is a ProtocolError in the seed's vocabulary.
 */
import * as v from "valibot";
import { type IssueCode, issueDetails, ProtocolError } from "../errors";
import { exceedsBytes, MAX_EDIT_VALUE_BYTES, MAX_KEY_LENGTH, MAX_PATH_DEPTH, MAX_VALUE_DEPTH } from "../limits";
import { IdSchema } from "../schemas";
import { topicName } from "../topics";

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

/** The topic whose subscribers and editors receive a resource's `resource_updated`. */
export function resourceTopic({ resource_type, resource_id }: ResourceRef): string {
  return topicName({ channel: EDITABLE_RESOURCES[resource_type].channel, key: resource_id });
}

/** Parses `{resource_type, resource_id}`; unknown types are `resource_not_found`. */
export function parseResourceRef(data: Record<string, unknown>): ResourceRef {
  const type = data.resource_type;
  if (typeof type !== "string") {
    throw new ProtocolError("invalid_message", "resource_type is required", {
      details: issueDetails("missing_field", { field: "resource_type", hint: "Missing resource_type" }),
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
      details: issueDetails("invalid_field", { field: "resource_id", hint: "Invalid resource_id" }),
    });
  }
  return { resource_type: type, resource_id: id.output };
}

/** Splits and checks a path: `[a-z_][a-z0-9_]*` segments joined by `.`, depth ≤ MAX_PATH_DEPTH. */
export function parsePath(path: unknown): string[] {
  if (typeof path !== "string" || path.length === 0) {
    throw pathError("invalid_path", { hint: "path must be a non-empty string" });
  }
  const segments = path.split(".");
  if (segments.length > MAX_PATH_DEPTH) {
    throw pathError("path_too_deep", {
      limit: MAX_PATH_DEPTH,
      hint: `path is deeper than ${MAX_PATH_DEPTH} segments`,
    });
  }
  for (const segment of segments) {
    if (segment.length > MAX_KEY_LENGTH) throw pathError("key_too_long", { limit: MAX_KEY_LENGTH });
    if (FORBIDDEN_SEGMENTS.has(segment)) {
      throw pathError("forbidden_key", { key: segment, hint: `path segment "${segment}" is not allowed` });
    }
    if (!SEGMENT.test(segment)) {
      throw pathError("invalid_path", {
        segment,
        hint: `path segment "${segment}" must match [a-z_][a-z0-9_]*`,
      });
    }
  }
  return segments;
}

/**
 * A leaf value: a JSON value whose encoding fits MAX_EDIT_VALUE_BYTES, nested at most
 * MAX_VALUE_DEPTH deep, with finite numbers only, keys of at most MAX_KEY_LENGTH characters and
 * no `__proto__` key at any depth (no reader can store one faithfully: a Yjs client's decoder
 * makes it the object's prototype). Keys such as `constructor` or `toString` are ordinary data.
 */
export function checkValue(value: unknown): void {
  if (value === undefined)
    throw new ProtocolError("invalid_message", "value is required", {
      details: issueDetails("missing_field", { field: "value", hint: "Missing value" }),
    });
  const issue = valueIssue(value);
  if (issue) throw new ProtocolError("invalid_message", issue.message, { details: issue.details });
  if (exceedsBytes(JSON.stringify(value), MAX_EDIT_VALUE_BYTES)) {
    throw new ProtocolError("invalid_message", `value is over ${MAX_EDIT_VALUE_BYTES} bytes`, {
      details: issueDetails("value_too_large", { limit: MAX_EDIT_VALUE_BYTES }),
    });
  }
}

export interface ValueIssue {
  message: string;
  details: { issue: IssueCode } & Record<string, unknown>;
}

/**
 * What is wrong with a value, or null: the shape rules of {@link checkValue} without the size,
 * walked without recursion so that no nesting can exhaust the stack. A value whose prototype
 * is not a plain object's or an array's (a decoder turned `__proto__` into the prototype) is
 * a `__proto__` key too. `depth` is where the value starts (a Yjs value below nested maps).
 */
export function valueIssue(value: unknown, depth = 0): ValueIssue | null {
  const stack: [unknown, number][] = [[value, depth]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [current, level] = item;
    if (typeof current === "number") {
      if (!Number.isFinite(current)) {
        return { message: "Numbers must be finite", details: { issue: "non_finite_number" } };
      }
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (level >= MAX_VALUE_DEPTH) {
      return {
        message: `value is nested deeper than ${MAX_VALUE_DEPTH}`,
        details: { issue: "value_too_deep", limit: MAX_VALUE_DEPTH },
      };
    }
    const proto = Object.getPrototypeOf(current) as unknown;
    if (Array.isArray(current)) {
      if (proto !== Array.prototype) return forbiddenKey("__proto__");
      for (const element of current) stack.push([element, level + 1]);
      continue;
    }
    if (proto !== Object.prototype && proto !== null) return forbiddenKey("__proto__");
    for (const key of Object.keys(current)) {
      if (key === "__proto__") return forbiddenKey(key);
      if (key.length > MAX_KEY_LENGTH) {
        return {
          message: `a key is longer than ${MAX_KEY_LENGTH} characters`,
          details: { issue: "key_too_long", limit: MAX_KEY_LENGTH },
        };
      }
      stack.push([(current as Record<string, unknown>)[key], level + 1]);
    }
  }
  return null;
}

function forbiddenKey(key: string): ValueIssue {
  return { message: `The key "${key}" is not allowed in a value`, details: { issue: "forbidden_key", key } };
}

function pathError(issue: IssueCode, extra: Record<string, unknown>): ProtocolError {
  return new ProtocolError("invalid_message", "Invalid path", { details: issueDetails(issue, extra) });
}
