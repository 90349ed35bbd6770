/**
 * The Document Durable Object: one per editable resource (`fund:fund_123`). It holds the
 * resource's Y.Doc, loaded from SQLite before anything is handled, merges edits from JSON
 * editors (through their hubs), from ingest and from y-websocket clients (whose sockets it holds
 * itself, hibernating), stores every update before it is acknowledged or broadcast, and turns
 * each change into `resource_updated` events for the resource's topic, through a durable outbox.
 *
 * Nothing keeps an idle document awake: presence has no timer, and the one alarm (token
 * expiry, outbox retry, compaction of an idle log) is cleared once there is nothing to do.
 */
import { DurableObject } from "cloudflare:workers";
import * as v from "valibot";
import * as Y from "yjs";
import { accessEndsAt, hasScope, type Principal } from "../auth/principal";
import type { Env } from "../env";
import { DOCUMENT_NAME_HEADER, PRINCIPAL_HEADER } from "../internal-headers";
import { encodeServerEvent } from "../protocol/equihome/codec";
import {
  checkValue,
  EDITABLE_RESOURCES,
  type EditableResourceType,
  parsePath,
  type ResourceRef,
} from "../protocol/equihome/editing";
import { CLOSE_CODES, type ErrorCode, ProtocolError } from "../protocol/errors";
import {
  AWARENESS_QUERY_INTERVAL_MS,
  DELIVERY_RETRY_MS,
  DOCUMENT_COMPACT_BYTES,
  DOCUMENT_COMPACT_UPDATES,
  DOCUMENT_IDLE_COMPACT_MS,
  MAX_AWARENESS_CLIENTS_PER_CONNECTION,
  MAX_AWARENESS_STATE_BYTES,
  MAX_KEY_LENGTH,
  MAX_PRESENCE_BYTES,
  MAX_YJS_CONNECTIONS_PER_USER,
  MAX_YJS_FRAME_BYTES,
} from "../protocol/limits";
import { type EventAck, topicName } from "../protocol/topics";
import {
  type AwarenessEntry,
  decodeAwarenessUpdate,
  decodeYjsMessage,
  encodeAwareness,
  encodeAwarenessUpdate,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  YjsFrameError,
} from "../protocol/yjs/frames";
import { PrincipalSchema } from "../socket-host/attachment";
import { MessageRateLimiter } from "../socket-host/rate-limiter";
import { safeJson } from "../storage/sql";
import type { NewEvent } from "../topic/topic-store";
import { changedLeaves, checkPathFree, documentJson, type LeafChange, rootMap, setPath } from "./doc-model";
import { DocumentStore, type JsonEditor } from "./document-store";
import { Presence } from "./presence";
import { checkUpdate } from "./update-check";

export interface Editor {
  user_id: string;
  email: string;
}

/** An edit from a JSON editor (through its hub) or a publisher (through ingest). */
export interface JsonEdit {
  path: string;
  value: unknown;
  updatedBy: string;
  /** The editor's socket and message id, acknowledged on that socket's copy of the event. */
  ack?: EventAck;
  /** An ingest event id: the same id within the dedupe window is applied once. */
  eventId?: string;
}

/** Why one edit of a batch was refused; `details` as JSON text (RPC types cannot carry `unknown`). */
export interface BatchError {
  position: number;
  code: ErrorCode;
  message: string;
  details?: string;
}

/**
 * A batch's outcome: refused whole (every refusal), or applied and stored, each edit with the
 * seq of its `resource_updated` (null while the topic could not be reached: `published` false).
 */
export type BatchResult =
  | { ok: false; errors: BatchError[] }
  | { ok: true; results: { seq: number | null; duplicate?: boolean }[]; published: boolean };

/** An edit's outcome: the seq its `resource_updated` got, or why it was refused. */
export interface EditResult {
  seq: number | null;
  duplicate?: boolean;
  /** `details` travels as JSON text: RPC types cannot carry `unknown`. */
  error?: { code: ErrorCode; message: string; details?: string };
}

const YjsAttachmentSchema = v.object({
  v: v.literal(1),
  id: v.string(),
  principal: PrincipalSchema,
  /** Awareness clients this connection owns, with their last clocks: [clientID, clock][]. */
  awareness: v.array(v.tuple([v.number(), v.number()])),
});

interface YjsConnection {
  id: string;
  ws: WebSocket;
  principal: Principal;
  canEdit: boolean;
  /** Owned awareness clients as last written to the attachment. */
  awareness: Map<number, number>;
  rate: MessageRateLimiter;
  /** When this connection's last query-awareness was answered. */
  queriedAt: number;
}

/** How a transaction came to be, so its update can be attributed and acknowledged. */
type EditOrigin = { kind: "json"; edit: JsonEdit } | { kind: "yjs"; connection: YjsConnection };

export class DocumentDurableObject extends DurableObject<Env> {
  #store: DocumentStore;
  #doc = new Y.Doc({ gc: true });
  #resource: ResourceRef | null = null;
  #connections = new Map<WebSocket, YjsConnection>();
  #presence = new Presence({
    clientsPerOwner: MAX_AWARENESS_CLIENTS_PER_CONNECTION,
    stateBytes: MAX_AWARENESS_STATE_BYTES,
    totalBytes: MAX_PRESENCE_BYTES,
  });
  /** Leaf changes of the transaction being committed, collected by the deep observer. */
  #pendingLeaves: LeafChange[] = [];
  /** The outbox row written by the last update, read right after a synchronous edit. */
  #lastOutboxId: number | null = null;
  #outboxRun: Promise<Map<number, number[]>> | null = null;
  /** Seqs of published outbox rows that an edit is waiting for, by row id. */
  #published = new Map<number, number[]>();
  #waiting = new Set<number>();
  /** Size of the update log since the last snapshot, kept in memory to decide compaction. */
  #log: { count: number; bytes: number };
  /** When the alarm is set for, as far as this instance knows. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new DocumentStore(ctx.storage);
    const name = this.#store.name();
    if (name !== null) this.#resource = parseDocumentName(name);
    // Load before any observer: replaying stored updates must not log or publish them again.
    const { snapshot, updates } = this.#store.load();
    if (snapshot) Y.applyUpdate(this.#doc, snapshot);
    for (const update of updates) Y.applyUpdate(this.#doc, update);
    this.#log = { count: updates.length, bytes: updates.reduce((sum, update) => sum + update.byteLength, 0) };
    rootMap(this.#doc).observeDeep((events) => {
      this.#pendingLeaves.push(...changedLeaves(events));
    });
    this.#doc.on("update", (update: Uint8Array, origin: unknown) => this.#onUpdate(update, origin as EditOrigin));
    for (const ws of ctx.getWebSockets()) {
      const attachment = v.safeParse(YjsAttachmentSchema, ws.deserializeAttachment());
      if (!attachment.success) {
        ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
        continue;
      }
      const { id, principal, awareness } = attachment.output;
      this.#connections.set(ws, this.#newConnection(id, ws, principal, new Map(awareness)));
    }
    // What is pending now was folded into the stored alarm when it arose, so that alarm is due no
    // later than this: knowing it saves a storage write per wake.
    const due = this.#earliestAlarm(this.#store.hasOutbox());
    this.#alarmAt = due === Number.POSITIVE_INFINITY ? null : due;
  }

  // -------------------------------------------------------------------------------------------
  // JSON editors (RPC from hubs) and ingest

  /** A JSON editor starts a session: the whole document and who is editing. */
  async join(
    resource: ResourceRef,
    editor: JsonEditor,
  ): Promise<{ document: Record<string, unknown>; editors: Editor[] }> {
    this.#remember(resource);
    this.#store.putEditor(editor);
    const editors = this.#editors();
    await this.#notifyEditors(editors, editor.socket);
    return { document: documentJson(this.#doc), editors };
  }

  /** A JSON editor ends its session (or its socket closed). */
  async leave(resource: ResourceRef, socket: string): Promise<{ editors: Editor[] }> {
    this.#remember(resource);
    const editors = this.#editors();
    if (this.#store.removeEditor(socket)) {
      const remaining = this.#editors();
      await this.#notifyEditors(remaining, socket);
      return { editors: remaining };
    }
    return { editors };
  }

  /**
   * Applies a batch of edits in order, all or nothing, and returns each one's seq once its
   * `resource_updated` is stored by the topic. The check (on a scratch copy, in order) and the
   * application run with no await in between, so no concurrent edit can slip between them, and
   * every update and outbox row of the batch is written in one transaction. An edit whose
   * `eventId` was applied before (within the dedupe window) is not applied again: it gets its
   * original seq. An edit that is stored is never reported as refused: when the topic cannot be
   * reached its seq is null (`published: false`), and the outbox publishes it later.
   */
  async applyBatch(resource: ResourceRef, edits: JsonEdit[]): Promise<BatchResult> {
    this.#remember(resource);
    const now = Date.now();
    const outboxIds: number[] = [];
    const fresh: number[] = [];
    const seen = new Map<string, number>();
    for (const [position, edit] of edits.entries()) {
      const prior = edit.eventId === undefined ? null : this.#store.editRecord(edit.eventId, now);
      const earlier = edit.eventId === undefined ? undefined : seen.get(edit.eventId);
      if (prior) outboxIds[position] = prior.outboxId;
      else if (earlier !== undefined)
        outboxIds[position] = -1 - earlier; // resolved below
      else fresh.push(position);
      if (edit.eventId !== undefined && !seen.has(edit.eventId)) seen.set(edit.eventId, position);
    }
    const refusals = this.#check(fresh.map((position) => edits[position] as JsonEdit));
    if (refusals.length > 0) {
      return {
        ok: false,
        errors: refusals.map(({ index, error }) => ({
          position: fresh[index] as number,
          code: error.code,
          message: error.message,
          ...(error.details ? { details: JSON.stringify(error.details) } : {}),
        })),
      };
    }
    this.#applyChecked(fresh, edits, outboxIds, now);
    for (const [position, id] of outboxIds.entries()) {
      if (id < 0) outboxIds[position] = outboxIds[-1 - id] as number;
    }
    const { seqs, published } = await this.#publishRows(outboxIds);
    const applied = new Set(fresh);
    return {
      ok: true,
      results: outboxIds.map((outboxId, position) => {
        const seq = seqs.get(outboxId) ?? this.#store.publishedSeq(outboxId);
        return { seq, ...(applied.has(position) ? {} : { duplicate: true }) };
      }),
      published,
    };
  }

  /**
   * Publishes the outbox up to the newest of these rows and returns the first seq of each row
   * it published now; `published` false when the topic could not be reached (the alarm retries).
   */
  async #publishRows(ids: number[]): Promise<{ seqs: Map<number, number>; published: boolean }> {
    const seqs = new Map<number, number>();
    const last = Math.max(-1, ...ids);
    if (last < 0) return { seqs, published: true };
    for (const id of ids) this.#waiting.add(id);
    try {
      const lastSeqs = await this.#publishUpTo(last);
      if (lastSeqs[0] !== undefined) seqs.set(last, lastSeqs[0]);
      for (const id of ids) {
        const first = this.#published.get(id)?.[0];
        if (first !== undefined) seqs.set(id, first);
      }
      return { seqs, published: true };
    } catch (error) {
      console.warn("document outbox: topic unavailable, the alarm retries", error);
      return { seqs, published: false };
    } finally {
      for (const id of ids) {
        this.#waiting.delete(id);
        this.#published.delete(id);
      }
    }
  }

  /** One edit from a JSON editor: {@link applyBatch} of one, as an {@link EditResult}. */
  async applyEdit(resource: ResourceRef, edit: JsonEdit): Promise<EditResult> {
    const result = await this.applyBatch(resource, [edit]);
    if (!result.ok) {
      const { code, message, details } = result.errors[0] as BatchError;
      return { seq: null, error: { code, message, ...(details === undefined ? {} : { details }) } };
    }
    const first = result.results[0];
    return { seq: first?.seq ?? null, ...(first?.duplicate ? { duplicate: true } : {}) };
  }

  /** Why edits, applied in this order to the document as it is, would be refused (none: []). */
  #check(edits: JsonEdit[]): { index: number; error: ProtocolError }[] {
    if (edits.length === 0) return [];
    // A later edit of a batch may depend on an earlier one, so a batch is tried on a copy. One
    // edit (every JSON editor's update_resource) is checked against the document itself: a copy
    // would cost the whole document per keystroke.
    const single = edits.length === 1;
    const scratch = single ? null : new Y.Doc();
    if (scratch) Y.applyUpdate(scratch, Y.encodeStateAsUpdate(this.#doc));
    const refusals: { index: number; error: ProtocolError }[] = [];
    for (const [index, { path, value }] of edits.entries()) {
      try {
        checkValue(value);
        const segments = parsePath(path);
        if (scratch) setPath(scratch, segments, value, null);
        else checkPathFree(this.#doc, segments);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        refusals.push({ index, error });
      }
    }
    return refusals;
  }

  /** Applies checked edits, each its own Yjs transaction, all their writes in one SQL transaction. */
  #applyChecked(positions: number[], edits: JsonEdit[], outboxIds: number[], now: number): void {
    if (positions.length === 0) return;
    try {
      this.ctx.storage.transactionSync(() => {
        for (const position of positions) {
          const edit = edits[position] as JsonEdit;
          this.#lastOutboxId = null;
          setPath(this.#doc, parsePath(edit.path), edit.value, { kind: "json", edit } satisfies EditOrigin);
          const outboxId = this.#lastOutboxId as number | null;
          if (outboxId === null) throw new Error("an edit produced no update");
          if (edit.eventId !== undefined) this.#store.rememberEdit(edit.eventId, outboxId, now);
          outboxIds[position] = outboxId;
        }
      });
    } catch (error) {
      // The check passed on the same state, so this is a bug; the storage rolled back but the
      // Y.Doc in memory did not: start this object again from what is stored.
      console.error("a checked batch failed to apply; resetting the document", error);
      this.ctx.abort("a checked batch failed to apply");
      throw error;
    }
  }

  /** The document as JSON, and whether it was ever written. */
  async read(resource: ResourceRef): Promise<{ exists: boolean; document: Record<string, unknown> }> {
    this.#remember(resource);
    return { exists: this.#store.exists(), document: documentJson(this.#doc) };
  }

  /** Test and operations aid. */
  async describe(): Promise<{ connections: number; log: { count: number; bytes: number }; editors: Editor[] }> {
    return { connections: this.#connections.size, log: this.#store.logSize(), editors: this.#editors() };
  }

  /** Compacts the update log into one snapshot now (also done by thresholds and the alarm). */
  async compact(): Promise<void> {
    this.#compact();
  }

  #compact(): void {
    this.#store.compact(Y.encodeStateAsUpdate(this.#doc));
    this.#log = { count: 0, bytes: 0 };
  }

  // -------------------------------------------------------------------------------------------
  // y-websocket connections

  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(DOCUMENT_NAME_HEADER);
    const principal = v.safeParse(PrincipalSchema, safeJson(request.headers.get(PRINCIPAL_HEADER)));
    const resource = name === null ? null : parseDocumentName(name);
    if (!resource || !principal.success || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("documents accept only upgrades forwarded by the Worker", { status: 400 });
    }
    this.#remember(resource);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const sub = principal.output.sub;
    let open = 0;
    for (const connection of this.#connections.values()) if (connection.principal.sub === sub) open += 1;
    if (open >= MAX_YJS_CONNECTIONS_PER_USER) {
      // Accepted, then closed with a reason: a refused upgrade tells a browser client nothing.
      server.accept();
      server.close(
        CLOSE_CODES.too_many_connections,
        `more than ${MAX_YJS_CONNECTIONS_PER_USER} connections of this user`,
      );
      return new Response(null, { status: 101, webSocket: client });
    }
    this.ctx.acceptWebSocket(server);
    const connection = this.#newConnection(crypto.randomUUID(), server, principal.output, new Map());
    this.#connections.set(server, connection);
    this.#writeAttachment(connection);
    server.send(encodeSyncStep1(Y.encodeStateVector(this.#doc)));
    const states = this.#presence.all();
    if (states.length > 0) server.send(encodeAwareness(encodeAwarenessUpdate(states)));
    this.#alarmBy(accessEndsAt(connection.principal));
    await this.#notifyEditors(this.#editors(), null);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const connection = this.#connections.get(ws);
    if (!connection) {
      ws.close(CLOSE_CODES.internal_error, "connection state lost; reconnect");
      return;
    }
    if (accessEndsAt(connection.principal) <= Date.now()) {
      this.#closeConnection(connection, CLOSE_CODES.authentication_failed, "token expired");
      return;
    }
    if (typeof message === "string") {
      this.#closeConnection(connection, CLOSE_CODES.unsupported_data, "y-websocket frames are binary");
      return;
    }
    if (message.byteLength > MAX_YJS_FRAME_BYTES) {
      this.#closeConnection(connection, CLOSE_CODES.message_too_big, "frame too large");
      return;
    }
    const verdict = connection.rate.check(Date.now());
    if (verdict === "close") {
      this.#closeConnection(connection, CLOSE_CODES.policy_violation, "message rate limit exceeded");
      return;
    }
    // y-websocket has no error message: a dropped frame is resent by the next sync.
    if (verdict !== "accept") return;
    try {
      this.#handleYjs(connection, new Uint8Array(message));
    } catch (error) {
      if (error instanceof YjsFrameError) {
        this.#closeConnection(connection, CLOSE_CODES.unsupported_data, "malformed message");
        return;
      }
      console.error("y-websocket message failed", error);
      this.#closeConnection(connection, CLOSE_CODES.internal_error, "server error; reconnect");
    }
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    await this.#forget(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#forget(ws);
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    for (const connection of [...this.#connections.values()]) {
      if (accessEndsAt(connection.principal) <= now) {
        this.#closeConnection(connection, CLOSE_CODES.authentication_failed, "token expired");
      }
    }
    try {
      await this.#publishUpTo(Number.POSITIVE_INFINITY);
    } catch (error) {
      console.warn("document outbox: topic unavailable, will retry", error);
    }
    if (this.#log.count > 0) this.#compact();
    this.#alarmBy(this.#earliestAlarm(this.#store.hasOutbox()));
  }

  #newConnection(id: string, ws: WebSocket, principal: Principal, awareness: Map<number, number>): YjsConnection {
    const canEdit = hasScope(principal, "edit");
    return { id, ws, principal, canEdit, awareness, rate: new MessageRateLimiter(Date.now()), queriedAt: 0 };
  }

  #handleYjs(connection: YjsConnection, frame: Uint8Array): void {
    const message = decodeYjsMessage(frame);
    switch (message.type) {
      case "sync-step1": {
        let diff: Uint8Array;
        try {
          diff = Y.encodeStateAsUpdate(this.#doc, message.stateVector);
        } catch (cause) {
          throw new YjsFrameError("malformed state vector", { cause });
        }
        connection.ws.send(encodeSyncStep2(diff));
        return;
      }
      case "sync-step2":
      case "update": {
        const decoded = decodeUpdate(message.update);
        if (!connection.canEdit) {
          // Read-only: its changes are refused. Its sync answer always carries its whole delete
          // set, so only an update message that changes something is told so.
          if (message.type === "update" && (decoded.structs.length > 0 || decoded.ds.clients.size > 0)) {
            connection.ws.send(encodePermissionDenied("read-only: this token has no edit scope"));
          }
          return;
        }
        const key = forbiddenKey(decoded);
        if (key !== null) {
          connection.ws.send(encodePermissionDenied(`refused: the key "${key.slice(0, 64)}" is not allowed`));
          return;
        }
        const refusal = checkUpdate(this.#doc, decoded);
        if (refusal) {
          this.#refuseUpdate(connection, refusal.issue, refusal.message);
          return;
        }
        Y.applyUpdate(this.#doc, message.update, { kind: "yjs", connection } satisfies EditOrigin);
        const store = this.#doc.store;
        if (store.pendingStructs !== null || store.pendingDs !== null) {
          // Not caught above (it should have been): keep nothing that waits for what never came.
          store.pendingStructs = null;
          store.pendingDs = null;
          this.#refuseUpdate(connection, "unresolved_dependencies", "the update depends on changes never received");
        }
        return;
      }
      case "awareness": {
        const entries = decodeAwarenessUpdate(message.update, MAX_AWARENESS_STATE_BYTES);
        const accepted = this.#presence.apply(connection.id, entries);
        // To everyone, the sender included, as y-websocket servers do: a lone client hears its
        // own renewals, which keeps its 30 s silence watchdog from reconnecting.
        if (accepted.length > 0) this.#broadcast(encodeAwareness(encodeAwarenessUpdate(accepted)), null);
        this.#rememberAwareness(connection);
        return;
      }
      case "query-awareness": {
        // Answered at most once per interval: tiny queries must not amplify into floods of states.
        const now = Date.now();
        if (now - connection.queriedAt < AWARENESS_QUERY_INTERVAL_MS) return;
        connection.queriedAt = now;
        connection.ws.send(encodeAwareness(encodeAwarenessUpdate(this.#presence.all())));
        return;
      }
      default:
        return; // auth messages from clients, and types of newer versions: nothing to do
    }
  }

  async #forget(ws: WebSocket): Promise<void> {
    const connection = this.#connections.get(ws);
    if (!connection) return;
    this.#connections.delete(ws);
    const removals: AwarenessEntry[] = this.#presence.removeOwner(connection.id, connection.awareness);
    if (removals.length > 0) this.#broadcast(encodeAwareness(encodeAwarenessUpdate(removals)), null);
    try {
      ws.close(CLOSE_CODES.normal, "closed");
    } catch {
      // already closed
    }
    await this.#notifyEditors(this.#editors(), null);
  }

  /** A refused update: the reason as y-websocket's permission-denied, then the close. */
  #refuseUpdate(connection: YjsConnection, issue: string, message: string): void {
    connection.ws.send(encodePermissionDenied(`refused: ${issue}: ${message}`));
    this.#closeConnection(connection, CLOSE_CODES.update_refused, `update refused: ${issue}`);
  }

  #closeConnection(connection: YjsConnection, code: number, reason: string): void {
    try {
      connection.ws.close(code, reason);
    } catch {
      // already closed
    }
    void this.#forget(connection.ws);
  }

  /** Keeps the attachment's owned awareness clients in step, written only when the set changes. */
  #rememberAwareness(connection: YjsConnection): void {
    const owned = this.#presence.owned(connection.id);
    const same =
      owned.size === connection.awareness.size && [...owned.keys()].every((id) => connection.awareness.has(id));
    connection.awareness = owned;
    if (!same) this.#writeAttachment(connection);
  }

  #writeAttachment(connection: YjsConnection): void {
    connection.ws.serializeAttachment({
      v: 1,
      id: connection.id,
      principal: connection.principal,
      awareness: [...connection.awareness],
    } satisfies v.InferOutput<typeof YjsAttachmentSchema>);
  }

  #broadcast(frame: Uint8Array, except: YjsConnection | null): void {
    for (const connection of this.#connections.values()) {
      if (connection === except) continue;
      try {
        connection.ws.send(frame);
      } catch {
        // closing; its close handler cleans up
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Updates: store, broadcast, publish

  /**
   * Every update of the doc, whatever its source: stored (with the events it produced, in one
   * transaction) before anything is sent, then relayed to the other y-websocket clients.
   */
  #onUpdate(update: Uint8Array, origin: EditOrigin | undefined): void {
    const leaves = this.#pendingLeaves.splice(0);
    const resource = this.#resource;
    const events = resource === null ? [] : leaves.map((leaf) => this.#toEvent(resource, leaf, origin, leaves.length));
    this.#lastOutboxId = this.#store.appendUpdate(update, events);
    this.#broadcast(encodeUpdate(update), origin?.kind === "yjs" ? origin.connection : null);
    this.#log.count += 1;
    this.#log.bytes += update.byteLength;
    if (this.#log.count >= DOCUMENT_COMPACT_UPDATES || this.#log.bytes >= DOCUMENT_COMPACT_BYTES) this.#compact();
    if (events.length > 0) {
      void this.#publishUpTo(Number.POSITIVE_INFINITY).catch((error) =>
        console.warn("document outbox: topic unavailable, the alarm retries", error),
      );
    }
    this.#alarmBy(this.#pendingWorkAt(events.length > 0));
  }

  #toEvent(resource: ResourceRef, leaf: LeafChange, origin: EditOrigin | undefined, leafCount: number): NewEvent {
    const updatedBy =
      origin?.kind === "json"
        ? origin.edit.updatedBy
        : origin?.kind === "yjs"
          ? origin.connection.principal.email
          : "system";
    const data: Record<string, unknown> = {
      resource_type: resource.resource_type,
      resource_id: resource.resource_id,
      path: leaf.path,
      value: leaf.value,
      updated_by: updatedBy,
    };
    if (leaf.deleted) data.deleted = true;
    const event: NewEvent = { event: "resource_updated", data };
    // A JSON edit changes exactly one leaf: that event carries its id and acknowledgement.
    if (origin?.kind === "json" && leafCount === 1) {
      if (origin.edit.eventId !== undefined) event.id = origin.edit.eventId;
      if (origin.edit.ack !== undefined) event.ack = origin.edit.ack;
    }
    return event;
  }

  /**
   * Hands outbox rows to the topic, oldest first, one run at a time, until the row `upTo` is
   * published; returns the seqs of that row. Rows stay until the topic has stored them.
   */
  async #publishUpTo(upTo: number): Promise<number[]> {
    const waits = Number.isFinite(upTo);
    if (waits) this.#waiting.add(upTo);
    try {
      for (;;) {
        const done = this.#published.get(upTo);
        if (done) return done;
        if (this.#outboxRun) {
          await this.#outboxRun;
          continue;
        }
        const pending = this.#store.outbox();
        if (pending.length === 0 || (pending[0]?.id ?? 0) > upTo) return [];
        this.#outboxRun = this.#drainOutbox(pending);
        try {
          await this.#outboxRun;
        } finally {
          this.#outboxRun = null;
        }
      }
    } finally {
      if (waits) {
        this.#waiting.delete(upTo);
        this.#published.delete(upTo);
      }
    }
  }

  async #drainOutbox(entries: { id: number; events: string }[]): Promise<Map<number, number[]>> {
    const resource = this.#resource;
    if (resource === null) return this.#published;
    const topic = topicName({ channel: EDITABLE_RESOURCES[resource.resource_type].channel, key: resource.resource_id });
    const stub = this.env.TOPIC.getByName(topic);
    for (const entry of entries) {
      const results = await stub.publish(topic, JSON.parse(entry.events) as NewEvent[]);
      const seqs = results.map((result) => result.seq);
      this.#store.removeOutbox(entry.id, seqs[0] ?? null);
      if (this.#waiting.has(entry.id)) this.#published.set(entry.id, seqs);
    }
    return this.#published;
  }

  // -------------------------------------------------------------------------------------------
  // Editors and housekeeping

  /** Who is editing, once per user, in user id order. */
  #editors(): Editor[] {
    const byUser = new Map<string, Editor>();
    for (const editor of this.#store.editors()) byUser.set(editor.sub, { user_id: editor.sub, email: editor.email });
    for (const { principal } of this.#connections.values()) {
      byUser.set(principal.sub, { user_id: principal.sub, email: principal.email });
    }
    return [...byUser.values()].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
  }

  /** Sends `editors_updated` to every JSON editor but `except`, through their hubs. */
  async #notifyEditors(editors: Editor[], except: string | null): Promise<void> {
    const resource = this.#resource;
    if (resource === null) return;
    const frame = encodeServerEvent({ event: "editors_updated", data: { ...resource, editors } });
    const byHub = new Map<string, string[]>();
    for (const editor of this.#store.editors()) {
      if (editor.socket === except) continue;
      byHub.set(editor.hub, [...(byHub.get(editor.hub) ?? []), editor.socket]);
    }
    await Promise.all(
      [...byHub].map(async ([hub, sockets]) => {
        try {
          const { missing } = await this.env.HUB.getByName(hub).sendToSockets(sockets, frame);
          // Sockets their hub no longer has: sessions that ended without end_editing.
          for (const socket of missing) this.#store.removeEditor(socket);
        } catch (error) {
          console.warn(`editors_updated to ${hub} failed`, error);
        }
      }),
    );
  }

  #remember(resource: ResourceRef): void {
    if (this.#resource !== null) return;
    this.#resource = resource;
    this.#store.setName(`${resource.resource_type}:${resource.resource_id}`);
  }

  /**
   * When the one alarm is due: the earliest of a token expiry, an outbox retry (when events
   * wait), the compaction of a log that has gone idle. A full scan, for the alarm and a wake;
   * an update or a connection only moves the alarm earlier ({@link #alarmBy}).
   */
  #earliestAlarm(outboxPending: boolean): number {
    let at = this.#pendingWorkAt(outboxPending);
    for (const { principal } of this.#connections.values()) at = Math.min(at, accessEndsAt(principal));
    return at;
  }

  #pendingWorkAt(outboxPending: boolean): number {
    const now = Date.now();
    let at = Number.POSITIVE_INFINITY;
    if (outboxPending) at = Math.min(at, now + DELIVERY_RETRY_MS);
    if (this.#log.count > 0) at = Math.min(at, now + DOCUMENT_IDLE_COMPACT_MS);
    return at;
  }

  /** Sets the alarm for `at` unless it is already due no later. */
  #alarmBy(at: number): void {
    if (at === Number.POSITIVE_INFINITY || (this.#alarmAt !== null && this.#alarmAt <= at)) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}

function parseDocumentName(name: string): ResourceRef | null {
  const colon = name.indexOf(":");
  const type = name.slice(0, colon);
  const id = name.slice(colon + 1);
  if (colon <= 0 || id.length === 0 || !Object.hasOwn(EDITABLE_RESOURCES, type)) return null;
  return { resource_type: type as EditableResourceType, resource_id: id };
}

/** Decodes an update to check it before it touches the document. */
function decodeUpdate(update: Uint8Array): ReturnType<typeof Y.decodeUpdate> {
  try {
    return Y.decodeUpdate(update);
  } catch (cause) {
    throw new YjsFrameError("malformed update", { cause });
  }
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * A map key a Yjs client may not write: one that would vanish or pollute in the JSON form of
 * the document, one with a "." (paths join keys with dots), or an absurdly long one. Keys outside
 * the JSON path grammar are otherwise allowed.
 */
function forbiddenKey({ structs }: ReturnType<typeof Y.decodeUpdate>): string | null {
  for (const struct of structs) {
    const key = struct instanceof Y.Item ? struct.parentSub : null;
    // A "." would make `a.b` mean two different places in resource_updated paths.
    if (key !== null && (FORBIDDEN_KEYS.has(key) || key.includes(".") || key.length > MAX_KEY_LENGTH)) return key;
  }
  return null;
}
