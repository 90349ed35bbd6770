/**
 * Awareness (presence) for y-websocket connections, without y-protocols' Awareness class and
 * its interval timer: a map of client states, each owned by the connection that first sent it.
 * A connection may change or remove only its own clients, so closing one removes only its own
 * states. In memory: after a wake from hibernation it starts empty and fills again as clients
 * renew their state (every 15 s in y-protocols).
 */
import type { AwarenessEntry } from "../protocol/yjs/frames";

interface ClientState {
  clock: number;
  state: string;
  owner: string;
  /** The state's size in UTF-8 bytes (its text's length when the decoder did not say). */
  bytes: number;
}

export interface PresenceLimits {
  /** Clients one connection may own. */
  clientsPerOwner: number;
  /** Largest state of one client (its JSON text). */
  stateBytes: number;
  /** All states together. */
  totalBytes: number;
}

export class Presence {
  #clients = new Map<number, ClientState>();
  /** Size of every state held, kept as states come and go. */
  #bytes = 0;

  constructor(private readonly limits: PresenceLimits) {}

  /**
   * Applies a connection's awareness entries with y-protocols' clock rules; returns those that
   * changed something (to relay to the others). Entries for clients another connection owns,
   * or past the per-connection cap, are dropped.
   */
  apply(owner: string, entries: AwarenessEntry[]): AwarenessEntry[] {
    const accepted: AwarenessEntry[] = [];
    for (const entry of entries) {
      const current = this.#clients.get(entry.clientID);
      if (current && current.owner !== owner) continue;
      const removal = entry.state === "null";
      if (current) {
        const newer = current.clock < entry.clock || (current.clock === entry.clock && removal);
        if (!newer) continue;
      } else if (removal || this.owned(owner).size >= this.limits.clientsPerOwner) {
        continue;
      }
      if (removal) {
        this.#remove(entry.clientID);
        accepted.push(entry);
        continue;
      }
      // A state over its bound, or one the document's presence has no room for, is dropped
      // (the client's previous state, if any, stays).
      const size = entry.bytes ?? entry.state.length;
      const grows = size - (current?.bytes ?? 0);
      if (size > this.limits.stateBytes || this.#bytes + grows > this.limits.totalBytes) continue;
      this.#bytes += grows;
      this.#clients.set(entry.clientID, { clock: entry.clock, state: entry.state, owner, bytes: size });
      accepted.push(entry);
    }
    return accepted;
  }

  #remove(clientID: number): void {
    const current = this.#clients.get(clientID);
    if (!current) return;
    this.#bytes -= current.bytes;
    this.#clients.delete(clientID);
  }

  /** Every current state, for a connection that just joined or asked. */
  all(): AwarenessEntry[] {
    return [...this.#clients].map(([clientID, { clock, state }]) => ({ clientID, clock, state }));
  }

  /** The clients a connection owns, with their clocks. */
  owned(owner: string): Map<number, number> {
    const owned = new Map<number, number>();
    for (const [clientID, client] of this.#clients) if (client.owner === owner) owned.set(clientID, client.clock);
    return owned;
  }

  /**
   * Removes a closed connection's clients. `remembered` are clocks saved before a hibernation,
   * for clients this instance has not seen. Returns the removal entries to relay.
   */
  removeOwner(owner: string, remembered: Map<number, number> = new Map()): AwarenessEntry[] {
    const clocks = new Map([...remembered, ...this.owned(owner)]);
    const removals: AwarenessEntry[] = [];
    for (const [clientID, clock] of clocks) {
      const current = this.#clients.get(clientID);
      if (current && current.owner !== owner) continue;
      this.#remove(clientID);
      removals.push({ clientID, clock: clock + 1, state: "null" });
    }
    return removals;
  }
}
