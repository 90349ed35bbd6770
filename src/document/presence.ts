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
}

export class Presence {
  #clients = new Map<number, ClientState>();

  constructor(private readonly maxClientsPerOwner: number) {}

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
      } else if (removal || this.owned(owner).size >= this.maxClientsPerOwner) {
        continue;
      }
      if (removal) this.#clients.delete(entry.clientID);
      else this.#clients.set(entry.clientID, { clock: entry.clock, state: entry.state, owner });
      accepted.push(entry);
    }
    return accepted;
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
      this.#clients.delete(clientID);
      removals.push({ clientID, clock: clock + 1, state: "null" });
    }
    return removals;
  }
}
