/**
 * A topic's dedupe keys (`NewEvent.key`): the system's own dedupe for events that have no
 * publisher id (a document's outbox rows). A repeat within the window gets the original seq and
 * `duplicate`, as an id does; the key is never stored with the event nor put on any wire; keys
 * and publisher ids never match each other; a topic stored before keys existed gains them.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeTopicEvent } from "../../src/protocol/equihome/codec";
import { DEDUPE_WINDOW_MS } from "../../src/protocol/limits";
import { TopicStore } from "../../src/topic/topic-store";
import { unique } from "../helpers/client";

const change = (path: string, key?: string, id?: string) => ({
  event: "resource_updated",
  data: { path },
  ...(key === undefined ? {} : { key }),
  ...(id === undefined ? {} : { id }),
});

describe("an event with a dedupe key and no id", () => {
  it("goes on the wire without an id, and a repeat gets its original seq", async () => {
    const name = `fund_updates:${unique("fund")}`;
    await runInDurableObject(env.TOPIC.getByName(name), (_instance, state) => {
      const store = new TopicStore(state.storage);
      const now = Date.now();
      const first = store.append([change("a", "k1"), change("b", "k2"), change("a", "k1")], now, -1);
      expect(first.results).toEqual([
        { seq: 1, duplicate: false },
        { seq: 2, duplicate: false },
        { seq: 1, duplicate: true },
      ]);
      expect(first.appended.map((event) => encodeTopicEvent(event))).toEqual([
        '{"event":"resource_updated","data":{"path":"a"},"seq":1}',
        '{"event":"resource_updated","data":{"path":"b"},"seq":2}',
      ]);
      expect(store.eventsAfter(0, 10)).toEqual([
        { seq: 1, event: "resource_updated", data: '{"path":"a"}' },
        { seq: 2, event: "resource_updated", data: '{"path":"b"}' },
      ]);
      expect(store.latest()).toEqual({ seq: 2, event: "resource_updated", data: '{"path":"b"}' });
      expect(store.append([change("b", "k2"), change("c", "k3")], now + 1, -1).results).toEqual([
        { seq: 2, duplicate: true },
        { seq: 3, duplicate: false },
      ]);
      expect([store.dedupeCount(), store.dedupeKeyCount()]).toEqual([0, 3]);
    });
  });

  it("is forgotten with the dedupe window, as an id is", async () => {
    const name = `fund_updates:${unique("fund")}`;
    await runInDurableObject(env.TOPIC.getByName(name), (_instance, state) => {
      const store = new TopicStore(state.storage);
      const now = Date.now();
      store.append([change("a", "k1")], now, -1);
      const later = now + DEDUPE_WINDOW_MS + 1;
      expect(store.append([change("a", "k1")], later, -1).results).toEqual([{ seq: 2, duplicate: false }]);
      store.pruneDedupe(later + DEDUPE_WINDOW_MS);
      expect(store.dedupeKeyCount()).toBe(0);
    });
  });

  it("never matches a publisher's id, and an event with an id is deduplicated by its id", async () => {
    const name = `fund_updates:${unique("fund")}`;
    await runInDurableObject(env.TOPIC.getByName(name), (_instance, state) => {
      const store = new TopicStore(state.storage);
      const now = Date.now();
      const { results, appended } = store.append(
        [change("a", "same"), change("b", undefined, "same"), change("c", "other", "same"), change("d", "x", "i2")],
        now,
        -1,
      );
      expect(results).toEqual([
        { seq: 1, duplicate: false },
        { seq: 2, duplicate: false },
        { seq: 2, duplicate: true },
        { seq: 3, duplicate: false },
      ]);
      expect(appended.map((event) => encodeTopicEvent(event))).toEqual([
        '{"event":"resource_updated","data":{"path":"a"},"seq":1}',
        '{"event":"resource_updated","data":{"path":"b"},"id":"same","seq":2}',
        '{"event":"resource_updated","data":{"path":"d"},"id":"i2","seq":3}',
      ]);
      // An event with an id costs its id's dedupe row only.
      expect([store.dedupeCount(), store.dedupeKeyCount()]).toEqual([2, 1]);
    });
  });

  it("works on a topic stored before dedupe keys existed", async () => {
    const name = `fund_updates:${unique("fund")}`;
    const stub = env.TOPIC.getByName(name);
    await runInDurableObject(stub, (_instance, state) => {
      const store = new TopicStore(state.storage);
      store.append([change("a", undefined, "i1")], Date.now(), -1);
      state.storage.sql.exec("DROP TABLE dedupe_keys");
    });
    await evictDurableObject(stub);
    expect(await stub.publish(name, [change("b", "k1"), change("b", "k1"), change("a", undefined, "i1")])).toEqual([
      { seq: 2, duplicate: false },
      { seq: 2, duplicate: true },
      { seq: 1, duplicate: true },
    ]);
    expect((await stub.describe()).dedupeKeys).toBe(1);
  });
});
