import { describe, expect, it } from "vitest";
import { Presence } from "../../../src/document/presence";
import { MAX_AWARENESS_CLIENTS_PER_CONNECTION } from "../../../src/protocol/limits";
import type { AwarenessEntry } from "../../../src/protocol/yjs/frames";

/** Only the per-connection cap matters to most cases here; sizes get their own. */
const limits = (clientsPerOwner: number) => ({ clientsPerOwner, stateBytes: 1 << 20, totalBytes: 1 << 24 });

const entry = (clientID: number, clock: number, state: unknown = { user: `u${clientID}` }): AwarenessEntry => ({
  clientID,
  clock,
  state: JSON.stringify(state),
});
const removal = (clientID: number, clock: number): AwarenessEntry => ({ clientID, clock, state: "null" });

/** all(), sorted by client id, for order-independent comparison. */
const snapshot = (presence: Presence): AwarenessEntry[] =>
  presence.all().sort((left, right) => left.clientID - right.clientID);

describe("Presence.apply: clock rules", () => {
  it("accepts a new client's state and returns it to relay", () => {
    const presence = new Presence(limits(8));
    const first = entry(1, 0);
    expect(presence.apply("conn-a", [first])).toEqual([first]);
    expect(presence.all()).toEqual([first]);
  });

  it("accepts a newer clock and replaces the state", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1, { v: 1 })]);
    expect(presence.apply("conn-a", [entry(1, 2, { v: 2 })])).toEqual([entry(1, 2, { v: 2 })]);
    expect(presence.all()).toEqual([entry(1, 2, { v: 2 })]);
  });

  it("ignores an older clock", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 5, { v: 5 })]);
    expect(presence.apply("conn-a", [entry(1, 4, { v: 4 })])).toEqual([]);
    expect(presence.all()).toEqual([entry(1, 5, { v: 5 })]);
  });

  it("ignores an equal clock with a new state", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 5, { v: 5 })]);
    expect(presence.apply("conn-a", [entry(1, 5, { v: "other" })])).toEqual([]);
    expect(presence.all()).toEqual([entry(1, 5, { v: 5 })]);
  });

  it("applies a removal with an equal clock", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 5)]);
    expect(presence.apply("conn-a", [removal(1, 5)])).toEqual([removal(1, 5)]);
    expect(presence.all()).toEqual([]);
  });

  it("applies a removal with a newer clock and ignores one with an older clock", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 5), entry(2, 5)]);
    expect(presence.apply("conn-a", [removal(1, 4)])).toEqual([]);
    expect(presence.apply("conn-a", [removal(2, 6)])).toEqual([removal(2, 6)]);
    expect(snapshot(presence)).toEqual([entry(1, 5)]);
  });

  it("ignores the removal of a client it does not know", () => {
    const presence = new Presence(limits(8));
    expect(presence.apply("conn-a", [removal(9, 3)])).toEqual([]);
    expect(presence.all()).toEqual([]);
    expect(presence.owned("conn-a").size).toBe(0);
  });

  it("applies each entry of a batch on its own, returning only those that changed something", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 3)]);
    const batch = [entry(1, 2), entry(2, 0), entry(1, 4, { v: 4 }), removal(3, 1)];
    expect(presence.apply("conn-a", batch)).toEqual([entry(2, 0), entry(1, 4, { v: 4 })]);
    expect(snapshot(presence)).toEqual([entry(1, 4, { v: 4 }), entry(2, 0)]);
  });

  it("a client may come back after its removal", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1)]);
    presence.apply("conn-a", [removal(1, 2)]);
    expect(presence.apply("conn-a", [entry(1, 3, { back: true })])).toEqual([entry(1, 3, { back: true })]);
    expect(presence.all()).toEqual([entry(1, 3, { back: true })]);
  });
});

describe("Presence.apply: ownership", () => {
  it("the first connection to send a client id owns it", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 0)]);
    expect([...presence.owned("conn-a").keys()]).toEqual([1]);
    expect(presence.owned("conn-b").size).toBe(0);
  });

  it("ignores another connection's updates and removals of a client it does not own", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1, { mine: true })]);
    expect(presence.apply("conn-b", [entry(1, 9, { stolen: true })])).toEqual([]);
    expect(presence.apply("conn-b", [removal(1, 9)])).toEqual([]);
    expect(presence.all()).toEqual([entry(1, 1, { mine: true })]);
    expect(presence.owned("conn-b").size).toBe(0);
  });

  it("keeps applying the other entries of a batch that contains a foreign client", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1)]);
    expect(presence.apply("conn-b", [entry(1, 2), entry(2, 0)])).toEqual([entry(2, 0)]);
    expect(snapshot(presence)).toEqual([entry(1, 1), entry(2, 0)]);
  });

  it("a client id freed by its owner's removal can be taken by another connection", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1)]);
    presence.apply("conn-a", [removal(1, 2)]);
    expect(presence.apply("conn-b", [entry(1, 5)])).toEqual([entry(1, 5)]);
    expect([...presence.owned("conn-b").keys()]).toEqual([1]);
  });
});

describe("Presence.apply: the per-owner cap", () => {
  it(`the service's cap is ${MAX_AWARENESS_CLIENTS_PER_CONNECTION} clients per connection`, () => {
    expect(MAX_AWARENESS_CLIENTS_PER_CONNECTION).toBe(8);
  });

  it("drops new clients past the cap, in a batch and later", () => {
    const presence = new Presence(limits(3));
    expect(presence.apply("conn-a", [entry(1, 0), entry(2, 0), entry(3, 0), entry(4, 0)])).toEqual([
      entry(1, 0),
      entry(2, 0),
      entry(3, 0),
    ]);
    expect(presence.apply("conn-a", [entry(5, 0)])).toEqual([]);
    expect([...presence.owned("conn-a").keys()].sort()).toEqual([1, 2, 3]);
  });

  it("still accepts updates of clients already owned at the cap", () => {
    const presence = new Presence(limits(2));
    presence.apply("conn-a", [entry(1, 0), entry(2, 0)]);
    expect(presence.apply("conn-a", [entry(2, 1, { v: 1 })])).toEqual([entry(2, 1, { v: 1 })]);
  });

  it("counts per connection: another connection has its own allowance", () => {
    const presence = new Presence(limits(2));
    presence.apply("conn-a", [entry(1, 0), entry(2, 0)]);
    expect(presence.apply("conn-b", [entry(3, 0), entry(4, 0)])).toEqual([entry(3, 0), entry(4, 0)]);
    expect(presence.all()).toHaveLength(4);
  });

  it("a removal frees a place under the cap", () => {
    const presence = new Presence(limits(2));
    presence.apply("conn-a", [entry(1, 0), entry(2, 0)]);
    presence.apply("conn-a", [removal(1, 0)]);
    expect(presence.apply("conn-a", [entry(3, 0)])).toEqual([entry(3, 0)]);
  });
});

describe("Presence.removeOwner", () => {
  it("removes only the connection's own clients, relaying each removal with clock + 1", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 4), entry(2, 0)]);
    presence.apply("conn-b", [entry(3, 7)]);
    const removals = presence.removeOwner("conn-a").sort((left, right) => left.clientID - right.clientID);
    expect(removals).toEqual([removal(1, 5), removal(2, 1)]);
    expect(presence.all()).toEqual([entry(3, 7)]);
    expect(presence.owned("conn-a").size).toBe(0);
  });

  it("returns nothing for a connection without clients", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-b", [entry(3, 7)]);
    expect(presence.removeOwner("conn-a")).toEqual([]);
    expect(presence.all()).toEqual([entry(3, 7)]);
  });

  it("removes remembered clients this instance has not seen (state from before a hibernation)", () => {
    const presence = new Presence(limits(8));
    const removals = presence.removeOwner(
      "conn-a",
      new Map([
        [10, 3],
        [11, 0],
      ]),
    );
    expect(removals.sort((left, right) => left.clientID - right.clientID)).toEqual([removal(10, 4), removal(11, 1)]);
  });

  it("prefers the clock it has seen since the wake over the remembered one", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(10, 8)]);
    expect(presence.removeOwner("conn-a", new Map([[10, 3]]))).toEqual([removal(10, 9)]);
    expect(presence.all()).toEqual([]);
  });

  it("does not remove a remembered client that another connection now owns", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-b", [entry(10, 8)]);
    expect(presence.removeOwner("conn-a", new Map([[10, 3]]))).toEqual([]);
    expect(presence.all()).toEqual([entry(10, 8)]);
  });

  it("combines remembered and current clients", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 2)]);
    const removals = presence.removeOwner("conn-a", new Map([[20, 5]]));
    expect(removals.sort((left, right) => left.clientID - right.clientID)).toEqual([removal(1, 3), removal(20, 6)]);
  });

  it("relays removals that y-protocols peers apply: the clock is newer than the last state they saw", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 4)]);
    const [relayed] = presence.removeOwner("conn-a");
    // A peer holding clock 4 applies a removal only if its clock is >= 4; +1 makes it strictly newer.
    expect(relayed?.state).toBe("null");
    expect(relayed?.clock).toBeGreaterThan(4);
  });
});

describe("Presence.all and owned", () => {
  it("all() lists every current state of every owner with its clock", () => {
    const presence = new Presence(limits(8));
    expect(presence.all()).toEqual([]);
    presence.apply("conn-a", [entry(1, 1, { a: 1 })]);
    presence.apply("conn-b", [entry(2, 3, { b: 2 })]);
    presence.apply("conn-a", [entry(1, 2, { a: 2 })]);
    expect(snapshot(presence)).toEqual([entry(1, 2, { a: 2 }), entry(2, 3, { b: 2 })]);
  });

  it("all() returns fresh entries: changing them does not change the presence", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1)]);
    const [listed] = presence.all();
    if (listed) listed.clock = 99;
    expect(presence.all()).toEqual([entry(1, 1)]);
  });

  it("owned() maps each of the connection's client ids to its current clock", () => {
    const presence = new Presence(limits(8));
    presence.apply("conn-a", [entry(1, 1), entry(2, 6)]);
    presence.apply("conn-a", [entry(1, 3)]);
    presence.apply("conn-b", [entry(3, 0)]);
    expect(presence.owned("conn-a")).toEqual(
      new Map([
        [1, 3],
        [2, 6],
      ]),
    );
  });

  it("drops a state over the per-state bound and keeps the total under its bound", () => {
    const presence = new Presence({ clientsPerOwner: 8, stateBytes: 10, totalBytes: 25 });
    const state = (n: number) => JSON.stringify("x".repeat(n - 2));
    expect(presence.apply("a", [{ clientID: 1, clock: 1, state: state(11) }])).toEqual([]);
    expect(presence.apply("a", [{ clientID: 1, clock: 1, state: state(10) }])).toHaveLength(1);
    expect(presence.apply("b", [{ clientID: 2, clock: 1, state: state(10) }])).toHaveLength(1);
    // 10 + 10 + 10 would be over 25: the third is dropped, a smaller one fits.
    expect(presence.apply("c", [{ clientID: 3, clock: 1, state: state(10) }])).toEqual([]);
    expect(presence.apply("c", [{ clientID: 3, clock: 1, state: state(5) }])).toHaveLength(1);
    // A removal frees its room.
    presence.removeOwner("a");
    expect(presence.apply("c", [{ clientID: 4, clock: 1, state: state(10) }])).toHaveLength(1);
    expect(presence.all().reduce((sum, entry) => sum + entry.state.length, 0)).toBeLessThanOrEqual(25);
  });
});
