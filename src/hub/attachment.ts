/**
 * What each socket carries through hibernation: a versioned, typed attachment, validated when
 * read back so a hub woken with an attachment written by an older version refuses it cleanly.
 * The socket's subscriptions ride in it too, so subscribing costs no storage write; workerd
 * caps an attachment at 2,048 bytes, so a socket whose subscriptions do not fit (up to 100)
 * keeps them in the hub's SQLite instead, keyed by the socket id (hub-store.ts), and its
 * attachment says `subs: "stored"`.
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

export const ATTACHMENT_VERSION = 1;

export const PrincipalSchema = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SUB_LENGTH)),
  email: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_EMAIL_LENGTH)),
  scopes: v.pipe(v.array(v.pipe(v.string(), v.maxLength(MAX_SCOPE_LENGTH))), v.maxLength(32)),
  resources: v.nullable(
    v.pipe(v.array(v.pipe(v.string(), v.maxLength(MAX_RESOURCE_PATTERN_LENGTH))), v.maxLength(MAX_RESOURCE_PATTERNS)),
  ),
  exp: v.pipe(v.number(), v.integer()),
}) satisfies v.GenericSchema<unknown, Principal>;

const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

/** One subscription: topic, traffic-light zones (or null), held explicitly, held for editing. */
const SubSchema = v.tuple([v.string(), v.nullable(v.array(v.string())), v.boolean(), v.boolean()]);
export type AttachedSubscription = v.InferOutput<typeof SubSchema>;
/** In the attachment, or "stored" in SQLite; absent in attachments written before either. */
const SubsSchema = v.optional(v.union([v.literal("stored"), v.array(SubSchema)]));

/** Serialized attachments up to this size (as JSON) carry their subscriptions inline. */
export const MAX_INLINE_ATTACHMENT_CHARS = 1800;

const JsonAttachmentSchema = v.object({
  v: v.literal(ATTACHMENT_VERSION),
  /** Stable id of the socket, the key of its subscription rows. */
  id: Id,
  protocol: v.literal("json"),
  principal: PrincipalSchema,
  subs: SubsSchema,
});

/** An Engine.IO session on a WebSocket: its ids, its Socket.IO state, when it opened. */
const SioAttachmentSchema = v.object({
  v: v.literal(ATTACHMENT_VERSION),
  /** The Engine.IO sid, also the key of the session's subscription rows. */
  id: Id,
  protocol: v.literal("sio"),
  sioId: v.nullable(Id),
  pid: v.nullable(Id),
  principal: v.nullable(PrincipalSchema),
  openedAt: v.number(),
  subs: SubsSchema,
});

const AttachmentSchema = v.variant("protocol", [JsonAttachmentSchema, SioAttachmentSchema]);

export type SocketAttachment = v.InferOutput<typeof AttachmentSchema>;

export function writeAttachment(ws: WebSocket, attachment: SocketAttachment): void {
  ws.serializeAttachment(attachment);
}

/** The socket's attachment, or null when it is missing or not of this version's shape. */
export function readAttachment(ws: WebSocket): SocketAttachment | null {
  const parsed = v.safeParse(AttachmentSchema, ws.deserializeAttachment());
  return parsed.success ? parsed.output : null;
}
