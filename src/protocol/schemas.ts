/** The field types both seeds' events are built from, shared by their valibot schemas. Pure. */
import * as v from "valibot";
import { MAX_ID_LENGTH, MAX_TEXT_LENGTH } from "./limits";

/** Free text: messages, errors. */
export const Text = v.pipe(v.string(), v.maxLength(MAX_TEXT_LENGTH));
/** A short label: a status, a step, a severity. */
export const ShortText = v.pipe(v.string(), v.minLength(1), v.maxLength(64));
export const Timestamp = v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 timestamp"));
export const FiniteNumber = v.pipe(v.number(), v.finite());
export const NonNegative = v.pipe(v.number(), v.finite(), v.minValue(0));
/** valibot's record() also takes arrays; the seeds' maps are objects. */
export const PlainObject = v.custom<Record<string, unknown>>(
  (input) => typeof input === "object" && input !== null && !Array.isArray(input),
  "must be an object",
);

/** An id: a channel key, a resource id. Never empty, bounded, no control characters. */
export const IdSchema = v.pipe(
  v.string(),
  v.minLength(1, "must not be empty"),
  v.maxLength(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`),
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  v.regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters"),
);

/** Valibot issues as `{path, message}` pairs, for error details (at most 10). */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): { path: string; message: string }[] {
  return issues.slice(0, 10).map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message }));
}
