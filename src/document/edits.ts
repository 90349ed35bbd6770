/**
 * Edits of the document's JSON form, from JSON editors (through their hubs) and from ingest:
 * one path for both. A batch is deduplicated, checked and applied with no await in between, so
 * no concurrent edit slips between check and application; it is stored as one change (one log
 * row, one outbox row); then its events are published. What is stored is never reported as
 * refused: when the topic cannot be reached its seqs are null and the outbox publishes later.
 *
 * Results are discriminated unions whose `details` are JSON objects, so they cross the RPC
 * boundary as data (no JSON text to parse and cast on the other side).
 */
import * as Y from "yjs";
import { checkValue, parsePath, type ResourceRef } from "../protocol/equihome/editing";
import { type ErrorCode, ProtocolError } from "../protocol/errors";
import type { EventAck, NewEvent } from "../protocol/topics";
import { checkPathFree, type LeafChange, setPath } from "./doc-model";
import type { DocumentStore } from "./document-store";
import type { LiveDocument } from "./live-document";
import type { Outbox } from "./outbox";
import type { YjsConnection } from "./yjs-connections";

/** An edit from a JSON editor (through its hub) or a publisher (through ingest). */
export interface JsonEdit {
  path: string;
  value: unknown;
  updatedBy: string;
  /** The editor's socket and message id, acknowledged on that socket's copy of the event. */
  ack?: EventAck;
  /** An ingest event id: the event's id for the topic, and the edit's dedupe key. */
  eventId?: string;
  /**
   * The dedupe key of an edit with no event id: a hub's `${socketId}:${messageId}`. Socket ids
   * are random UUIDs, so it cannot meet an ingest id by chance.
   */
  dedupeId?: string;
}

/**
 * A refusal's details: flat (a recursive JSON type is too deep for the RPC types to map), which
 * every refusal of an edit is: `{ issue, limit }`, `{ issue, key }`, `{ issue, path }`.
 */
export type DetailValue = string | number | boolean | null | (string | number)[];
export type ErrorDetails = { [key: string]: DetailValue };

export interface EditError {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

/** Why one edit of a batch was refused (its position in the batch). */
export interface BatchError extends EditError {
  position: number;
}

/** An applied edit: its event's seq (null while the topic could not be reached), and whether it repeated one. */
export interface EditOutcome {
  seq: number | null;
  duplicate: boolean;
}

/** A batch refused whole (every refusal), or applied and stored. */
export type BatchResult =
  | { ok: true; results: EditOutcome[]; published: boolean }
  | { ok: false; errors: BatchError[] };

/** One edit's outcome. */
export type EditResult = ({ ok: true; published: boolean } & EditOutcome) | { ok: false; error: EditError };

/** How a transaction came to be, so its update can be attributed and acknowledged. */
export type EditOrigin = { kind: "json"; edit: JsonEdit } | { kind: "yjs"; connection: YjsConnection };

/** An edit not applied before: its place in the batch, and its dedupe key. */
interface Fresh {
  position: number;
  edit: JsonEdit;
  key: string | undefined;
}

/** The key an edit is deduplicated by: its ingest event id, or its hub's socket and message id. */
function dedupeKey(edit: JsonEdit): string | undefined {
  return edit.eventId ?? edit.dedupeId;
}

/** Where an applied edit's event is: a published seq, or a place in an outbox row. */
type Place = { seq: number } | { outboxId: number; index: number };

export class Edits {
  constructor(
    private readonly live: LiveDocument<EditOrigin>,
    private readonly store: DocumentStore,
    private readonly outbox: Outbox,
    /** Starts the object again from what is stored (after a failure that left memory ahead of it). */
    private readonly reset: (reason: string) => void,
  ) {}

  /** Applies `edits` in order, all or nothing; each one's seq once its event is published. */
  async apply(edits: JsonEdit[]): Promise<BatchResult> {
    const now = Date.now();
    // Where each edit's event is, known now for a repeat of an edit applied before.
    const places: (Place | null)[] = edits.map(() => null);
    const fresh: Fresh[] = [];
    const repeatOf = new Map<number, number>();
    const firstWithKey = new Map<string, number>();
    for (const [position, edit] of edits.entries()) {
      const key = dedupeKey(edit);
      const record = key === undefined ? null : this.store.editRecord(key, now);
      const earlier = key === undefined ? undefined : firstWithKey.get(key);
      if (record) {
        places[position] =
          record.seq === null ? { outboxId: record.outboxId, index: record.eventIndex } : { seq: record.seq };
      } else if (earlier !== undefined) {
        repeatOf.set(position, earlier);
      } else {
        fresh.push({ position, edit, key });
      }
      if (key !== undefined && earlier === undefined) firstWithKey.set(key, position);
    }
    const refusals = this.#check(fresh);
    if (refusals.length > 0) return { ok: false, errors: refusals };
    this.#applyChecked(fresh, places, now);
    for (const [position, earlier] of repeatOf) places[position] = places[earlier] ?? null;
    const rows = [...new Set(places.flatMap((place) => (place && "outboxId" in place ? [place.outboxId] : [])))];
    const { seqs, published } = await this.outbox.publish(rows);
    const applied = new Set(fresh.map(({ position }) => position));
    return {
      ok: true,
      published,
      results: edits.map((edit, position) => ({
        seq: this.#seqOf(places[position] ?? null, seqs, dedupeKey(edit), now),
        duplicate: !applied.has(position),
      })),
    };
  }

  /** An applied edit's seq: published now, or before (found in its edit record), or not yet (null). */
  #seqOf(place: Place | null, seqs: Map<number, number[]>, key: string | undefined, now: number): number | null {
    if (place === null) return null;
    if ("seq" in place) return place.seq;
    const published = seqs.get(place.outboxId)?.[place.index];
    if (published !== undefined) return published;
    return key === undefined ? null : (this.store.editRecord(key, now)?.seq ?? null);
  }

  /** Why edits, applied in this order to the document as it is, would be refused (none: []). */
  #check(edits: Fresh[]): BatchError[] {
    if (edits.length === 0) return [];
    // A later edit of a batch may depend on an earlier one, so a batch is tried on a copy. One
    // edit (every JSON editor's update_resource) is checked against the document itself: a copy
    // would cost the whole document per keystroke.
    const doc = this.live.doc;
    const scratch = edits.length === 1 ? null : new Y.Doc();
    if (scratch) Y.applyUpdate(scratch, Y.encodeStateAsUpdate(doc));
    const refusals: BatchError[] = [];
    for (const { position, edit } of edits) {
      try {
        checkValue(edit.value);
        const segments = parsePath(edit.path);
        if (scratch) setPath(scratch, segments, edit.value, null);
        else checkPathFree(doc, segments);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        refusals.push({ position, ...editError(error) });
      }
    }
    return refusals;
  }

  /**
   * Applies checked edits, a Yjs transaction each (so each edit's events are its own), stored as
   * one change with their edit records; fills in where each one's event is.
   */
  #applyChecked(edits: Fresh[], places: (Place | null)[], now: number): void {
    if (edits.length === 0) return;
    try {
      this.live.commit(
        () => {
          for (const { edit } of edits) {
            setPath(this.live.doc, parsePath(edit.path), edit.value, { kind: "json", edit } satisfies EditOrigin);
          }
        },
        ({ outboxId, answers }) => {
          for (const [transaction, { position, key }] of edits.entries()) {
            const index = answers[transaction] ?? -1;
            if (outboxId === null || index < 0) throw new Error("an edit produced no event");
            if (key !== undefined) this.store.rememberEdit(key, outboxId, index, now);
            places[position] = { outboxId, index };
          }
        },
      );
    } catch (error) {
      // The check passed on the same state, so this is a bug; the storage rolled back but the
      // Y.Doc in memory did not: start this object again from what is stored.
      console.error("a checked batch failed to apply; resetting the document", error);
      this.reset("a checked batch failed to apply");
      throw error;
    }
  }
}

/**
 * The `resource_updated` events of a transaction's leaf changes, and which one answers it: for
 * a JSON edit, the event of the leaf it set, which carries its event id and acknowledgement.
 */
export function resourceEvents(
  resource: ResourceRef | null,
  leaves: LeafChange[],
  origin: EditOrigin | undefined,
): { events: NewEvent[]; answer: number } {
  if (resource === null) return { events: [], answer: -1 };
  const updatedBy =
    origin?.kind === "json"
      ? origin.edit.updatedBy
      : origin?.kind === "yjs"
        ? origin.connection.principal.email
        : "system";
  const events = leaves.map((leaf): NewEvent => {
    const data: Record<string, unknown> = {
      resource_type: resource.resource_type,
      resource_id: resource.resource_id,
      path: leaf.path,
      value: leaf.value,
      updated_by: updatedBy,
    };
    if (leaf.deleted) data.deleted = true;
    return { event: "resource_updated", data };
  });
  if (origin?.kind !== "json") return { events, answer: -1 };
  // Setting a leaf where a map was also deletes the map's leaves: those events come first.
  const own = leaves.findIndex((leaf) => leaf.path === origin.edit.path && !leaf.deleted);
  const answer = own >= 0 ? own : events.length - 1;
  const event = events[answer];
  if (event) {
    if (origin.edit.eventId !== undefined) event.id = origin.edit.eventId;
    if (origin.edit.ack !== undefined) event.ack = origin.edit.ack;
  }
  return { events, answer };
}

/** A refusal as RPC data: its details as an object, so they travel as data, not text. */
function editError(error: ProtocolError): EditError {
  const details = error.details === undefined ? undefined : flatDetails(error.details);
  return { code: error.code, message: error.message, ...(details === undefined ? {} : { details }) };
}

/** The flat fields of `details` (see {@link ErrorDetails}); a nested one is left out, and logged. */
function flatDetails(details: Record<string, unknown>): ErrorDetails {
  const out: ErrorDetails = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === null || typeof value === "string" || typeof value === "boolean") out[key] = value;
    else if (typeof value === "number" && Number.isFinite(value)) out[key] = value;
    else if (Array.isArray(value) && value.every(isScalar)) out[key] = value;
    else console.warn(`an edit refusal's details.${key} is not flat; left out`);
  }
  return out;
}

function isScalar(item: unknown): item is string | number {
  return typeof item === "string" || typeof item === "number";
}
