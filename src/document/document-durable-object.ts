/**
 * The Document Durable Object: one per editable resource (`fund:fund_123`). Lifecycle and
 * dispatch only; the work is in its parts:
 * - {@link LiveDocument}: the Y.Doc, loaded before anything is handled, every update stored
 *   (with its events) before anyone hears of it, the log compacted;
 * - {@link Edits}: edits from JSON editors (through their hubs) and ingest, one batch path;
 * - {@link Outbox}: the stored `resource_updated` events, published to the topic in order;
 * - {@link YjsConnections}: the y-websocket clients (sockets held here, hibernating) and presence;
 * - {@link EditorsRegistry}: who edits, and `editors_updated` to the JSON editors' hubs.
 *
 * Its y-websocket sockets live on the socket host (socket-host/), as the hubs' do: hibernation,
 * the attachment, restore after a wake, the inbound pipeline and the one alarm, whose periodic
 * work here is the document's own ({@link tick}: outbox retry, compaction of an idle log).
 * Nothing keeps an idle document awake: presence has no timer, and the alarm is not set again
 * once there is nothing to do.
 */
import * as v from "valibot";
import * as Y from "yjs";
import type { Env } from "../env";
import { DOCUMENT_NAME_HEADER, PRINCIPAL_HEADER } from "../internal-headers";
import { EDITABLE_RESOURCES, type EditableResourceType, type ResourceRef } from "../protocol/equihome/editing";
import { DELIVERY_RETRY_MS, DOCUMENT_IDLE_COMPACT_MS } from "../protocol/limits";
import { PrincipalSchema } from "../socket-host/attachment";
import { receive } from "../socket-host/inbound";
import { SocketHost } from "../socket-host/socket-host";
import { safeJson } from "../storage/sql";
import { documentJson } from "./doc-model";
import { DocumentStore, type JsonEditor } from "./document-store";
import { type Editor, EditorsRegistry } from "./editors";
import { type BatchResult, type EditOrigin, type EditResult, Edits, type JsonEdit, resourceEvents } from "./edits";
import { LiveDocument } from "./live-document";
import { Outbox } from "./outbox";
import { YJS_ATTACHMENT, type YjsConnection, YjsConnections } from "./yjs-connections";

export type { Editor } from "./editors";
export type { BatchError, BatchResult, EditError, EditResult, JsonEdit } from "./edits";

export class DocumentDurableObject extends SocketHost<Env, YjsConnection> {
  #resource: ResourceRef | null = null;
  #store: DocumentStore;
  #live: LiveDocument<EditOrigin>;
  #outbox: Outbox;
  #edits: Edits;
  #connections: YjsConnections;
  #editors: EditorsRegistry;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new DocumentStore(ctx.storage);
    const name = this.#store.name();
    if (name !== null) this.#resource = parseDocumentName(name);
    const resource = () => this.#resource;
    this.#outbox = new Outbox(this.#store, env.TOPIC, resource);
    this.#live = new LiveDocument<EditOrigin>(this.#store, ctx.storage, {
      events: (leaves, origin) => resourceEvents(resource(), leaves, origin),
      stored: (update, origin, outboxId) => {
        this.#connections.relay(update, origin?.kind === "yjs" ? origin.connection : null);
        // A JSON edit's caller publishes its own row (Edits.apply); a y-websocket update is
        // published before its frame's handler ends. `flush` logs its failures: the alarm retries.
        if (outboxId !== null && origin?.kind !== "json") this.later(this.#outbox.flush(), "publishing the outbox");
        this.planner.by(this.#pendingWorkAt(outboxId !== null));
      },
    });
    this.#edits = new Edits(this.#live, this.#store, this.#outbox, (reason) => ctx.abort(reason));
    this.#connections = new YjsConnections({
      doc: this.#live.doc,
      applyUpdate: (update, connection) => {
        Y.applyUpdate(this.#live.doc, update, { kind: "yjs", connection } satisfies EditOrigin);
      },
      editorsChanged: () => this.#editors.changed(null),
      accept: (ws, connection) => this.accept(ws, connection),
      untrack: (ws) => this.untrack(ws),
      expiry: (at) => this.planner.expiry(at),
      expireIfDue: (connection, now) => this.expireIfDue(connection, now),
      later: (task, what) => this.later(task, what),
    });
    this.#editors = new EditorsRegistry(this.#store, env.HUB, resource, () => this.#connections.principals());
    this.restoreSockets(YJS_ATTACHMENT, (ws, data) => this.#connections.revive(ws, data));
    this.restored();
  }

  // -------------------------------------------------------------------------------------------
  // RPC from hubs (JSON editors) and the Worker's routes

  /** A JSON editor starts a session: the whole document and who is editing. */
  async join(
    resource: ResourceRef,
    editor: JsonEditor,
  ): Promise<{ document: Record<string, unknown>; editors: Editor[] }> {
    this.#remember(resource);
    const editors = await this.#editors.join(editor);
    return { document: documentJson(this.#live.doc), editors };
  }

  /** A JSON editor ends its session (or its socket closed). */
  async leave(resource: ResourceRef, socket: string): Promise<{ editors: Editor[] }> {
    this.#remember(resource);
    return { editors: await this.#editors.leave(socket) };
  }

  /**
   * Applies a batch of edits in order, all or nothing, and returns each one's seq once its
   * `resource_updated` is stored by the topic (see {@link Edits.apply}). Every edit path ends here.
   */
  async applyBatch(resource: ResourceRef, edits: JsonEdit[]): Promise<BatchResult> {
    this.#remember(resource);
    return this.#edits.apply(edits);
  }

  /** One edit from a JSON editor: {@link applyBatch} of one. */
  async applyEdit(resource: ResourceRef, edit: JsonEdit): Promise<EditResult> {
    const result = await this.applyBatch(resource, [edit]);
    if (!result.ok) {
      const [refusal] = result.errors;
      if (refusal === undefined) throw new Error("a refused batch with no refusal");
      const { position: _, ...error } = refusal;
      return { ok: false, error };
    }
    const [outcome] = result.results;
    if (outcome === undefined) throw new Error("an applied batch of one with no result");
    return { ok: true, published: result.published, ...outcome };
  }

  /** The document as JSON, and whether it was ever written. */
  async read(resource: ResourceRef): Promise<{ exists: boolean; document: Record<string, unknown> }> {
    this.#remember(resource);
    return { exists: this.#store.exists(), document: documentJson(this.#live.doc) };
  }

  /** Test and operations aid. */
  async describe(): Promise<{ connections: number; log: { count: number; bytes: number }; editors: Editor[] }> {
    return { connections: this.#connections.size, log: this.#store.logSize(), editors: this.#editors.list() };
  }

  /** Compacts the update log into one snapshot now (also done by thresholds and the alarm). */
  async compact(): Promise<void> {
    this.#live.compact();
  }

  // -------------------------------------------------------------------------------------------
  // y-websocket connections (on the socket host), and the alarm's periodic work

  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(DOCUMENT_NAME_HEADER);
    const principal = v.safeParse(PrincipalSchema, safeJson(request.headers.get(PRINCIPAL_HEADER)));
    const resource = name === null ? null : parseDocumentName(name);
    if (!resource || !principal.success || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("documents accept only upgrades forwarded by the Worker", { status: 400 });
    }
    this.#remember(resource);
    return this.#connections.accept(principal.output);
  }

  protected sockets(): Iterable<YjsConnection> {
    return this.#connections.all();
  }

  protected expiresAt(connection: YjsConnection): number {
    return this.#connections.expiresAt(connection);
  }

  protected expire(connection: YjsConnection): void {
    this.#connections.expire(connection);
  }

  protected frame(connection: YjsConnection, _ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    return receive(this.#connections, connection, frame, Date.now());
  }

  protected closed(connection: YjsConnection): void {
    this.#connections.closed(connection);
  }

  /** After the expiries: the outbox retried, an idle log compacted. */
  protected async tick(): Promise<void> {
    await this.#outbox.flush();
    if (this.#live.hasLog) this.#live.compact();
  }

  /** An outbox retry when events wait, the compaction of a log that has gone idle. */
  protected dueAt(): number {
    return this.#pendingWorkAt(this.#outbox.pending());
  }

  #remember(resource: ResourceRef): void {
    if (this.#resource !== null) return;
    this.#resource = resource;
    this.#store.setName(`${resource.resource_type}:${resource.resource_id}`);
  }

  /** When the periodic work is due; an update only moves the alarm earlier (`planner.by`). */
  #pendingWorkAt(outboxPending: boolean): number {
    const now = Date.now();
    let at = Number.POSITIVE_INFINITY;
    if (outboxPending) at = Math.min(at, now + DELIVERY_RETRY_MS);
    if (this.#live.hasLog) at = Math.min(at, now + DOCUMENT_IDLE_COMPACT_MS);
    return at;
  }
}

function parseDocumentName(name: string): ResourceRef | null {
  const colon = name.indexOf(":");
  const type = name.slice(0, colon);
  const id = name.slice(colon + 1);
  if (colon <= 0 || !isEditableType(type) || id.length === 0) return null;
  return { resource_type: type, resource_id: id };
}

function isEditableType(type: string): type is EditableResourceType {
  return Object.hasOwn(EDITABLE_RESOURCES, type);
}
