/**
 * What each socket carries through hibernation: `{ns, v, data}`, a namespaced, versioned and
 * typed attachment, validated when read back. The namespace says which kind of object wrote it
 * (a JSON hub, a Socket.IO hub, a document's y-websocket side), the version which shape `data`
 * has: an object woken with an attachment of another namespace or version refuses it cleanly
 * instead of misreading it.
 * workerd caps an attachment at 2,048 bytes (serialized); what may not fit goes to SQLite.
 */
import * as v from "valibot";
import {
  MAX_EMAIL_LENGTH,
  MAX_RESOURCE_PATTERN_LENGTH,
  MAX_RESOURCE_PATTERNS,
  MAX_SCOPE_LENGTH,
  MAX_SUB_LENGTH,
} from "../auth/claims";
import type { Principal } from "../auth/principal";

export const PrincipalSchema = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SUB_LENGTH)),
  email: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_EMAIL_LENGTH)),
  scopes: v.pipe(v.array(v.pipe(v.string(), v.maxLength(MAX_SCOPE_LENGTH))), v.maxLength(32)),
  resources: v.nullable(
    v.pipe(v.array(v.pipe(v.string(), v.maxLength(MAX_RESOURCE_PATTERN_LENGTH))), v.maxLength(MAX_RESOURCE_PATTERNS)),
  ),
  exp: v.pipe(v.number(), v.integer()),
}) satisfies v.GenericSchema<unknown, Principal>;

/** A socket id as attachments carry it. */
export const AttachmentIdSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

/** One kind of attachment: its namespace, its version, and the schema of its data. */
export class AttachmentKind<T> {
  readonly #envelope: v.GenericSchema<unknown, { ns: string; v: number; data: T }>;

  constructor(
    readonly ns: string,
    readonly version: number,
    data: v.GenericSchema<unknown, T>,
  ) {
    this.#envelope = v.object({ ns: v.literal(ns), v: v.literal(version), data });
  }

  /** The attachment as it is serialized, e.g. to measure it against the size cap. */
  envelope(data: T): { ns: string; v: number; data: T } {
    return { ns: this.ns, v: this.version, data };
  }

  write(ws: WebSocket, data: T): void {
    ws.serializeAttachment(this.envelope(data));
  }

  /** The socket's data, or null when its attachment is missing or of another kind or version. */
  read(ws: WebSocket): T | null {
    const parsed = v.safeParse(this.#envelope, ws.deserializeAttachment());
    return parsed.success ? parsed.output.data : null;
  }
}
