/**
 * The resource's Y.Doc in memory, kept equal to what is stored: loaded from SQLite before
 * anything observes it, and every update appended to the log (with the events it produced, in
 * the same SQL transaction) before anyone else hears of it. It compacts the log into a snapshot
 * when the log grows past its thresholds, or when asked (the alarm, once the log is idle).
 */
import * as Y from "yjs";
import { DOCUMENT_COMPACT_BYTES, DOCUMENT_COMPACT_UPDATES } from "../protocol/limits";
import type { NewEvent } from "../protocol/topics";
import { changedLeaves, type LeafChange, rootMap } from "./doc-model";
import type { DocumentStore } from "./document-store";

export interface LiveDocumentHooks<Origin> {
  /**
   * The events for the topic that these leaf changes make (attributed by the transaction's
   * origin), and which of them answers the transaction's caller (its acknowledgement).
   */
  events(leaves: LeafChange[], origin: Origin | undefined): { events: NewEvent[]; answer: number };
  /** After a stored update: relay it, publish its outbox row (null: no events). */
  stored(update: Uint8Array, origin: Origin | undefined, outboxId: number | null): void;
}

/** What {@link LiveDocument.commit} stored. */
export interface Commit {
  /** The one outbox row of the change, null when it made no event. */
  outboxId: number | null;
  /** Per Yjs transaction of the change: the place in that row of the event that answers it (-1: none). */
  answers: number[];
}

/** Updates and events of a {@link LiveDocument.commit} in progress, stored together at its end. */
interface Group<Origin> {
  updates: Uint8Array[];
  events: NewEvent[];
  answers: number[];
  origin: Origin | undefined;
}

export class LiveDocument<Origin> {
  readonly doc = new Y.Doc({ gc: true });
  /** Leaf changes of the transaction being committed, collected by the deep observer. */
  #pendingLeaves: LeafChange[] = [];
  #group: Group<Origin> | null = null;
  /** Size of the update log since the last snapshot, kept in memory to decide compaction. */
  #log: { count: number; bytes: number };

  constructor(
    private readonly store: DocumentStore,
    private readonly storage: DurableObjectStorage,
    private readonly hooks: LiveDocumentHooks<Origin>,
  ) {
    // Load before any observer: replaying stored updates must not log or publish them again.
    const { snapshot, updates } = store.load();
    if (snapshot) Y.applyUpdate(this.doc, snapshot);
    for (const update of updates) Y.applyUpdate(this.doc, update);
    this.#log = { count: updates.length, bytes: updates.reduce((sum, update) => sum + update.byteLength, 0) };
    rootMap(this.doc).observeDeep((events) => {
      this.#pendingLeaves.push(...changedLeaves(events));
    });
    // The origin is whatever this object's own callers passed to `transact`/`applyUpdate`.
    this.doc.on("update", (update: Uint8Array, origin: Origin | undefined) => this.#onUpdate(update, origin));
  }

  /** Whether the log holds updates not yet folded into the snapshot. */
  get hasLog(): boolean {
    return this.#log.count > 0;
  }

  /**
   * Runs `change` (any number of Yjs transactions, none awaiting) as one stored change: one log
   * row (its updates merged), one outbox row (its events, in order), and `alsoStore` in the same
   * SQL transaction, then one relay. A transaction per edit keeps each edit's events its own;
   * storing them as one makes the batch all or nothing on disk and for every other client.
   *
   * If `change` throws half way, what it changed is in memory but not stored: the caller must
   * reset the object (its storage rolled back, the Y.Doc cannot).
   */
  commit(change: () => void, alsoStore: (commit: Commit) => void): Commit {
    const group: Group<Origin> = { updates: [], events: [], answers: [], origin: undefined };
    this.#group = group;
    try {
      change();
    } finally {
      this.#group = null;
    }
    const [only, ...more] = group.updates;
    const update = only !== undefined && more.length === 0 ? only : Y.mergeUpdates(group.updates);
    const commit = this.storage.transactionSync(() => {
      const outboxId = group.updates.length === 0 ? null : this.store.appendUpdate(update, group.events);
      const done: Commit = { outboxId, answers: group.answers };
      alsoStore(done);
      return done;
    });
    if (group.updates.length > 0) this.#logged(update, group.origin, commit.outboxId);
    return commit;
  }

  /** Replaces snapshot and log with one snapshot of the whole state. */
  compact(): void {
    this.store.compact(Y.encodeStateAsUpdate(this.doc));
    this.#log = { count: 0, bytes: 0 };
  }

  #onUpdate(update: Uint8Array, origin: Origin | undefined): void {
    const leaves = this.#pendingLeaves.splice(0);
    const { events, answer } = this.hooks.events(leaves, origin);
    const group = this.#group;
    if (group) {
      group.updates.push(update);
      group.answers.push(answer < 0 ? -1 : group.events.length + answer);
      group.events.push(...events);
      group.origin ??= origin;
      return;
    }
    this.#logged(update, origin, this.store.appendUpdate(update, events));
  }

  #logged(update: Uint8Array, origin: Origin | undefined, outboxId: number | null): void {
    this.#log.count += 1;
    this.#log.bytes += update.byteLength;
    if (this.#log.count >= DOCUMENT_COMPACT_UPDATES || this.#log.bytes >= DOCUMENT_COMPACT_BYTES) this.compact();
    this.hooks.stored(update, origin, outboxId);
  }
}
