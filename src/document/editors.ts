/**
 * Who edits the document: JSON editors (sessions opened through their hubs, kept in SQLite so
 * they outlive an eviction) and y-websocket users (their open connections). Every change of the
 * list is sent as `editors_updated` to the JSON editors, one call per hub, as a neutral event
 * that the hub encodes for its wire; a socket its hub no longer has is a session that ended
 * without `end_editing`, and is dropped then.
 */
import type { Principal } from "../auth/principal";
import type { Env } from "../env";
import type { ResourceRef } from "../protocol/equihome/editing";
import type { Editor, ReplyData } from "../protocol/equihome/replies";
import type { DirectEvent } from "../protocol/topics";
import type { DocumentStore, JsonEditor } from "./document-store";

/** Who edits, as `editing_started` and `editors_updated` name them (replies.ts EditorSchema). */
export type { Editor };

export class EditorsRegistry {
  constructor(
    private readonly store: DocumentStore,
    private readonly hubs: Env["HUB"],
    private readonly resource: () => ResourceRef | null,
    /** The users of the open y-websocket connections. */
    private readonly yjsUsers: () => Iterable<Principal>,
  ) {}

  /** A JSON editor starts (or restarts) a session; the others hear of it. */
  async join(editor: JsonEditor): Promise<Editor[]> {
    this.store.putEditor(editor);
    const editors = this.list();
    await this.changed(editor.socket);
    return editors;
  }

  /** A JSON editor's session ends; the others hear of it if it was one. */
  async leave(socket: string): Promise<Editor[]> {
    if (this.store.removeEditor(socket)) await this.changed(socket);
    return this.list();
  }

  /** Who is editing, once per user, in user id order. */
  list(): Editor[] {
    const byUser = new Map<string, Editor>();
    for (const editor of this.store.editors()) byUser.set(editor.sub, { user_id: editor.sub, email: editor.email });
    for (const principal of this.yjsUsers())
      byUser.set(principal.sub, { user_id: principal.sub, email: principal.email });
    return [...byUser.values()].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
  }

  /** Sends the list as `editors_updated` to every JSON editor but the socket `except`. */
  async changed(except: string | null): Promise<void> {
    const resource = this.resource();
    if (resource === null) return;
    const data: ReplyData<"editors_updated"> = { ...resource, editors: this.list() };
    const event: DirectEvent = { event: "editors_updated", data };
    const byHub = new Map<string, string[]>();
    for (const editor of this.store.editors()) {
      if (editor.socket === except) continue;
      byHub.set(editor.hub, [...(byHub.get(editor.hub) ?? []), editor.socket]);
    }
    await Promise.all(
      [...byHub].map(async ([hub, sockets]) => {
        try {
          const { missing } = await this.hubs.getByName(hub).sendEvent(sockets, event);
          for (const socket of missing) this.store.removeEditor(socket);
        } catch (error) {
          console.warn(`editors_updated to ${hub} failed`, error);
        }
      }),
    );
  }
}
