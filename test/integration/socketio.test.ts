/**
 * Socket.IO (Engine.IO v4 / Socket.IO v5) for QuantEnergx clients, in the real runtime: the
 * handshake and its errors, namespaces and CONNECT, the seed's events and confirmations, ingest
 * delivery, the polling transport, the upgrade to WebSocket, the heartbeat, protocol errors,
 * token expiry and connection state recovery. Raw packets throughout (helpers/engine-io-client).
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_PAYLOAD_BYTES, PING_INTERVAL_MS, PING_TIMEOUT_MS } from "../../src/hub/socketio/engine-io";
import {
  MAX_RATE_LIMITED_REPLIES,
  MAX_RATE_REFUSALS,
  MAX_SIO_SESSIONS_PER_USER,
  MAX_SUBSCRIPTIONS_PER_SOCKET,
  MESSAGE_BURST,
} from "../../src/protocol/limits";
import { MAX_COMMODITIES_PER_REQUEST } from "../../src/protocol/quantenergx/events";
import { complianceAlert, marketUpdate, orderUpdate, systemAlert, tradeUpdate } from "../fixtures/quantenergx-events";
import { ingestOk, unique } from "../helpers/client";
import {
  type EngineSocket,
  engineUrl,
  hubOfSid,
  PollingSocket,
  RS,
  WebSocketSocket,
} from "../helpers/engine-io-client";
import { signExpiringToken, signToken } from "../helpers/tokens";

/** Sessions opened by the running test, closed after it whatever happened. */
const opened: EngineSocket[] = [];
function track<S extends EngineSocket>(socket: S): S {
  opened.push(socket);
  return socket;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((socket) => socket.close().catch(() => undefined)));
});

/** A polling session, long-polling in the background. */
const polling = async (options: { headers?: Record<string, string>; autoPong?: boolean } = {}) =>
  track(await PollingSocket.open(options)).start();
const websocket = async (options: { headers?: Record<string, string>; autoPong?: boolean } = {}) =>
  track(await WebSocketSocket.open(options));
/** A user id and a session that authenticated as that user (CONNECT, then `authenticate`). */
async function loggedIn<S extends EngineSocket>(open: () => Promise<S>, user = unique("user")) {
  const socket = await open();
  const ids = await socket.login(user, await signToken({ sub: user }));
  return { user, socket, ...ids };
}

/** Stops a session's background polling: its held GET is released by the pong to a `ping` event. */
async function stopPolling(socket: PollingSocket): Promise<void> {
  const stopped = socket.pause();
  await socket.emit("ping");
  await stopped;
  await socket.nextEvent("pong");
}

/**
 * The polling session is over: its next GET gets 400 "Session ID unknown", or (from a server
 * that keeps a closed session for one last poll, as engine.io does) what was still queued
 * ending with the close packet, and the GET after that 400. Returns that last payload.
 */
async function expectGone(socket: PollingSocket): Promise<string[]> {
  let response = await socket.get();
  let last: string[] = [];
  if (response.status === 200) {
    last = (await response.text()).split(RS);
    expect(last.at(-1)).toBe("1");
    response = await socket.get();
  }
  expect(response.status).toBe(400);
  expect(await response.json()).toEqual({ code: 1, message: "Session ID unknown" });
  return last;
}

const errorOf = async (socket: EngineSocket) => socket.nextEventData<Record<string, unknown>>("error");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls `check` every 10 ms until it holds, or fails after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** `local.2` of the sid `local.2.<random>`: which hub holds the session. */
const hubName = (sid: string) => sid.split(".").slice(0, 2).join(".");

/** Sets the stored time of a hub's last ping (its SQLite `meta` row `last_ping_at`). */
async function setLastPingAt(sid: string, at: number): Promise<void> {
  await runInDurableObject(hubOfSid(sid), (_instance, state) => {
    state.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_ping_at', ?)", at);
  });
}

/** Runs the alarm of each hub holding these sessions; with `lastPingAt`, sets that first (so it pings). */
async function alarmOn(sids: string[], lastPingAt?: number): Promise<void> {
  for (const name of new Set(sids.map(hubName))) {
    const sid = sids.find((candidate) => hubName(candidate) === name) as string;
    if (lastPingAt !== undefined) await setLastPingAt(sid, lastPingAt);
    expect(await runDurableObjectAlarm(hubOfSid(sid)), `an alarm is set on ${name}`).toBe(true);
  }
}

/**
 * Runs those alarms as if `ms` had passed: Date is faked for the run (the hubs run in the tests'
 * isolate, so they see it too), which spares the test a 25 s sleep.
 */
async function alarmLater(sids: string[], ms: number): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    vi.setSystemTime(Date.now() + ms);
    await alarmOn(sids);
  } finally {
    vi.useRealTimers();
  }
}

/** A recovery offset: the session's count of room events, as a string. */
const OFFSET = expect.stringMatching(/^[1-9]\d*$/);

const SID = /^local\.[0-3]\.[A-Za-z0-9_-]{16,64}$/;

describe("Engine.IO handshake", () => {
  it("over polling: the open packet carries sid, upgrades [websocket], pingInterval, pingTimeout, maxPayload", async () => {
    const response = await exports.default.fetch(engineUrl("polling"));
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/plain/);
    const body = await response.text();
    expect(body.startsWith("0")).toBe(true);
    const open = JSON.parse(body.slice(1));
    expect(open).toEqual({
      sid: expect.stringMatching(SID),
      upgrades: ["websocket"],
      pingInterval: 25000,
      pingTimeout: 20000,
      maxPayload: MAX_PAYLOAD_BYTES,
    });
    await (await exports.default.fetch(engineUrl("polling", open.sid), { method: "POST", body: "1" })).text();
    expect(PING_INTERVAL_MS).toBeLessThanOrEqual(25000);
    // The session exists on the hub its sid names.
    const session = track(await PollingSocket.open());
    expect((await hubOfSid(session.sid).describe()).sessions).toBeGreaterThanOrEqual(1);
  });

  it("over a WebSocket directly: the first frame is the open packet, with no upgrades", async () => {
    const socket = await websocket();
    expect(socket.handshake).toEqual({
      sid: expect.stringMatching(SID),
      upgrades: [],
      pingInterval: 25000,
      pingTimeout: 20000,
      maxPayload: MAX_PAYLOAD_BYTES,
    });
    expect((await socket.connect()).type).toBe(0);
  });

  it("400 with Engine.IO's error codes for a bad version, transport, sid or handshake method", async () => {
    const base = "http://edge.test/socket.io/";
    const cases: [string, RequestInit, number, string][] = [
      [`${base}?EIO=3&transport=polling`, {}, 5, "Unsupported protocol version"],
      [`${base}?transport=polling`, {}, 5, "Unsupported protocol version"],
      [`${base}?EIO=4&transport=flashsocket`, {}, 0, "Transport unknown"],
      [`${base}?EIO=4`, {}, 0, "Transport unknown"],
      [engineUrl("polling", "local.0.AAAAAAAAAAAAAAAAAAAAAAAA"), {}, 1, "Session ID unknown"],
      [engineUrl("polling", "not-a-session-id"), {}, 1, "Session ID unknown"],
      [engineUrl("polling", "local.9.AAAAAAAAAAAAAAAAAAAAAAAA"), {}, 1, "Session ID unknown"],
      [engineUrl("polling", "mars.0.AAAAAAAAAAAAAAAAAAAAAAAA"), {}, 1, "Session ID unknown"],
      [
        engineUrl("polling", "local.0.AAAAAAAAAAAAAAAAAAAAAAAA"),
        { method: "POST", body: "40" },
        1,
        "Session ID unknown",
      ],
      [
        engineUrl("websocket", "local.1.AAAAAAAAAAAAAAAAAAAAAAAA"),
        { headers: { Upgrade: "websocket" } },
        1,
        "Session ID unknown",
      ],
      [engineUrl("polling"), { method: "POST", body: "40" }, 2, "Bad handshake method"],
      [engineUrl("websocket"), {}, 3, "Bad request"],
    ];
    for (const [url, init, code, message] of cases) {
      const response = await exports.default.fetch(url, init);
      expect(response.status, `${init.method ?? "GET"} ${url}`).toBe(400);
      expect(await response.json(), url).toEqual({ code, message });
    }
  });

  it("403 Forbidden for a disallowed Origin (polling and WebSocket); CORS for an allowed one", async () => {
    const evil = { Origin: "https://evil.example.com" };
    for (const [url, headers] of [
      [engineUrl("polling"), evil],
      [engineUrl("websocket"), { ...evil, Upgrade: "websocket" }],
    ] as const) {
      const response = await exports.default.fetch(url, { headers });
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ code: 4, message: "Forbidden" });
    }
    const app = { Origin: "https://app.example.com" };
    const allowed = await exports.default.fetch(engineUrl("polling"), { headers: app });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("Access-Control-Allow-Credentials")).toBe("true");
    const sid = JSON.parse((await allowed.text()).slice(1)).sid as string;
    await (await exports.default.fetch(engineUrl("polling", sid), { method: "POST", body: "1", headers: app })).text();
    const preflight = await exports.default.fetch(engineUrl("polling"), { method: "OPTIONS", headers: app });
    expect(preflight.status).toBe(204);
    await preflight.text();
    expect(preflight.headers.get("Access-Control-Allow-Methods")).toContain("POST");
    const ws = track(await WebSocketSocket.open({ headers: app }));
    expect(ws.handshake?.upgrades).toEqual([]);
  });
});

describe("Socket.IO CONNECT", () => {
  it("40 → 40{sid,pid}", async () => {
    const socket = await polling();
    const reply = await socket.connect();
    expect(reply.raw).toMatch(/^0\{/);
    expect(reply).toMatchObject({ type: 0, nsp: "/", data: { sid: expect.any(String), pid: expect.any(String) } });
    const { sid, pid } = reply.data as { sid: string; pid: string };
    expect(sid).not.toBe(socket.sid);
    expect(pid).toMatch(SID);
  });

  it("CONNECT to /admin → 44/admin,{message: Invalid namespace}", async () => {
    const socket = await websocket();
    await socket.send("40/admin,");
    expect(await socket.nextPacket()).toBe('44/admin,{"message":"Invalid namespace"}');
    // The main namespace still connects on the same session.
    expect((await socket.connect()).type).toBe(0);
  });

  it("CONNECT with auth {token, userId}: connected and authenticated; a bad one gets CONNECT_ERROR with data.code", async () => {
    const user = unique("user");
    const good = await websocket();
    const reply = await good.connect({ token: await signToken({ sub: user }), userId: user });
    expect(reply).toMatchObject({ type: 0, data: { sid: expect.any(String), pid: expect.any(String) } });
    // No authenticate needed: the user's rooms are open at once.
    await good.emit("join-trading", user);
    expect(await good.nextEventData("trading-joined")).toEqual({
      room: `trading-${user}`,
      message: `Joined trading room for user ${user}`,
    });

    const cases: [Record<string, unknown>, string][] = [
      [{ token: "garbage", userId: user }, "authentication_error"],
      [{ token: await signToken({ sub: "someone-else" }), userId: user }, "authentication_error"],
      [
        { token: await signToken({ sub: user }, "another-secret-entirely-0123456789"), userId: user },
        "authentication_error",
      ],
      [{ token: await signToken({ sub: user, ttl: -120 }), userId: user }, "authentication_error"],
    ];
    for (const [auth, code] of cases) {
      const bad = await websocket();
      const refusal = await bad.connect(auth);
      expect(refusal.type, JSON.stringify(auth)).toBe(4);
      expect(refusal.data).toMatchObject({ message: expect.any(String), data: { code } });
      // Not connected: events are not handled (socket.io drops packets of unconnected namespaces).
      await bad.emit("ping");
      expect(await bad.quiet(100)).toEqual([]);
      await bad.close();
    }
  });
});

describe("QuantEnergx events", () => {
  it("authenticate → auth-success {message, userId}; auth-error {message} for a bad token, another sub, a malformed payload", async () => {
    const user = unique("user");
    const socket = await websocket();
    await socket.connect();
    const refusals: [unknown, string | null][] = [
      [{ userId: user, token: "not.a.jwt" }, null],
      [{ userId: user, token: await signToken({ sub: user }, "another-secret-entirely-0123456789") }, null],
      [{ userId: user, token: await signToken({ sub: "mallory" }) }, null],
      [{ userId: user }, "Invalid authentication data"],
      [{ token: await signToken({ sub: user }) }, "Invalid authentication data"],
      ["user-123", "Invalid authentication data"],
      [{ userId: 42, token: await signToken({ sub: "42" }) }, "Invalid authentication data"],
    ];
    for (const [payload, message] of refusals) {
      await socket.emit("authenticate", payload);
      const error = await socket.nextEventData("auth-error");
      expect(error, JSON.stringify(payload)).toMatchObject({ message: message ?? expect.any(String) });
    }
    // Still unauthenticated after all that.
    await socket.emit("join-trading", user);
    expect(await errorOf(socket)).toMatchObject({ code: "authentication_error" });

    await socket.emit("authenticate", { userId: user, token: await signToken({ sub: user }) });
    expect(await socket.nextEventData("auth-success")).toEqual({ message: "Authentication successful", userId: user });
    expect(socket.eventsReceived("error")).toHaveLength(1);
  });

  // Regression: a token with exp 1e13 was adopted by `authenticate` (and CONNECT auth).
  it("authenticate or CONNECT auth with an absurd exp → auth-error / CONNECT_ERROR authentication_error", async () => {
    const user = unique("user");
    const absurd = await signToken({ sub: user, ttl: 1e13 });
    const socket = await websocket();
    expect((await socket.connect()).type).toBe(0);
    await socket.emit("authenticate", { userId: user, token: absurd });
    expect(await socket.nextEventData("auth-error")).toMatchObject({ code: "authentication_error" });
    await socket.emit("join-trading", user);
    expect(await errorOf(socket)).toMatchObject({ code: "authentication_error", message: "Authenticate first" });
    const other = await websocket();
    const refused = await other.connect({ token: absurd, userId: user });
    expect(refused.type).toBe(4);
    expect(refused.data).toMatchObject({ data: { code: "authentication_error", reason: "claims_invalid" } });
  });

  it("before authenticate: events get error authentication_error; ping still answers pong {timestamp}", async () => {
    const socket = await polling();
    await socket.connect();
    for (const [event, arg] of [
      ["join-trading", "user-123"],
      ["subscribe-orders", "user-123"],
      ["subscribe-compliance", "user-123"],
      ["subscribe-market", ["crude_oil"]],
      ["unsubscribe-market", ["crude_oil"]],
    ] as const) {
      await socket.emit(event, arg);
      expect(await errorOf(socket), event).toMatchObject({ code: "authentication_error" });
    }
    const before = Date.now();
    await socket.emit("ping");
    const pong = await socket.nextEventData<{ timestamp: number }>("pong");
    expect(pong).toEqual({ timestamp: expect.any(Number) });
    expect(pong.timestamp).toBeGreaterThanOrEqual(before - 1000);
  });

  it("join-trading / subscribe-orders / subscribe-compliance: the seed's confirmations; another user's id → authorization_error", async () => {
    const { user, socket } = await loggedIn(websocket);
    await socket.emit("join-trading", user);
    expect(await socket.nextEventData("trading-joined")).toEqual({
      room: `trading-${user}`,
      message: `Joined trading room for user ${user}`,
    });
    await socket.emit("subscribe-orders", user);
    expect(await socket.nextEventData("orders-subscribed")).toEqual({
      userId: user,
      room: `orders-${user}`,
      message: `Subscribed to order updates for user ${user}`,
    });
    await socket.emit("subscribe-compliance", user);
    expect(await socket.nextEventData("compliance-subscribed")).toEqual({
      userId: user,
      room: `compliance-${user}`,
      message: `Subscribed to compliance alerts for user ${user}`,
    });
    for (const event of ["join-trading", "subscribe-orders", "subscribe-compliance"]) {
      await socket.emit(event, "user-123");
      expect(await errorOf(socket), event).toMatchObject({ code: "authorization_error", message: expect.any(String) });
    }
    // The refused rooms were not joined: the other user's events do not arrive.
    await ingestOk([tradeUpdate("user-123"), orderUpdate("user-123"), complianceAlert("user-123")]);
    await ingestOk(tradeUpdate(user, "mine"));
    expect((await socket.nextEventData<{ payload: { id: string } }>("trade-update")).payload.id).toBe("mine");
    expect(socket.eventsReceived("trade-update")).toHaveLength(1);
    expect(socket.eventsReceived("order-update")).toHaveLength(0);
    expect(socket.eventsReceived("compliance-alert")).toHaveLength(0);
  });

  it("subscribe-market → market-subscribed, then the latest market-update of each commodity that has one", async () => {
    const [withTick, withoutTick] = [unique("crude"), unique("gas")];
    await ingestOk(marketUpdate(withTick, 70));
    const { results } = await ingestOk(marketUpdate(withTick, 75.25));
    const { socket } = await loggedIn(polling);
    await socket.emit("subscribe-market", [withTick, withoutTick]);
    expect(await socket.nextEventData("market-subscribed")).toEqual({
      commodities: [withTick, withoutTick],
      message: `Subscribed to market data for: ${withTick}, ${withoutTick}`,
    });
    const args = await socket.nextEvent("market-update");
    // The last argument is the session's recovery offset: 1, 2, 3, … over all its rooms.
    expect(args).toEqual([marketUpdate(withTick, 75.25).data, "1"]);
    expect(results[0]?.seq).toBe(2);
    // The confirmation came first, and only the latest tick of the one commodity that has one.
    const order = socket.log.filter((p) => p.startsWith("42")).map((p) => JSON.parse(p.slice(2))[0]);
    expect(order.slice(-2)).toEqual(["market-subscribed", "market-update"]);
    expect(await socket.quiet(150)).toEqual([]);
    // Live updates follow.
    await ingestOk(marketUpdate(withoutTick, 3.1));
    expect(await socket.nextEvent("market-update")).toEqual([marketUpdate(withoutTick, 3.1).data, "2"]);
  });

  it("unsubscribe-market → market-unsubscribed and no further updates of that commodity", async () => {
    const [gone, kept] = [unique("crude"), unique("gas")];
    const { socket } = await loggedIn(websocket);
    const { socket: observer } = await loggedIn(websocket);
    await socket.emit("subscribe-market", [gone, kept]);
    await socket.nextEvent("market-subscribed");
    await observer.emit("subscribe-market", [gone]);
    await observer.nextEvent("market-subscribed");
    await socket.emit("unsubscribe-market", [gone]);
    expect(await socket.nextEventData("market-unsubscribed")).toEqual({
      commodities: [gone],
      message: `Unsubscribed from market data for: ${gone}`,
    });
    await ingestOk(marketUpdate(gone, 1));
    await observer.nextEvent("market-update");
    await ingestOk(marketUpdate(kept, 2));
    expect((await socket.nextEventData<{ payload: { commodity: string } }>("market-update")).payload.commodity).toBe(
      kept,
    );
    await socket.quiet(100);
    expect(socket.eventsReceived("market-update")).toHaveLength(1);
  });

  // Regression: `authenticate` again with narrower `resources` kept every market subscription.
  it("authenticate again with narrower resources leaves the markets it no longer reaches: market-unsubscribed with a reason", async () => {
    const user = unique("user");
    const [kept, dropped, alsoDropped] = [unique("crude"), unique("gas"), unique("power")];
    const socket = await websocket();
    await socket.login(user, await signToken({ sub: user, resources: ["commodity:*"] }));
    await socket.emit("subscribe-market", [kept, dropped, alsoDropped]);
    await socket.nextEvent("market-subscribed");
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    const narrower = await signToken({ sub: user, resources: [`commodity:${kept}`] });
    await socket.emitWithAck(7, "authenticate", { userId: user, token: narrower });
    expect(await socket.nextEventData("auth-success")).toMatchObject({ userId: user });
    expect(await socket.nextEventData("market-unsubscribed")).toEqual({
      commodities: [dropped, alsoDropped],
      message: `Unsubscribed from market data for: ${dropped}, ${alsoDropped}`,
      reason: "authorization_error",
    });
    await socket.nextAck(7);
    await ingestOk([marketUpdate(dropped, 1), marketUpdate(alsoDropped, 1), marketUpdate(kept, 2)]);
    expect((await socket.nextEventData<{ payload: { commodity: string } }>("market-update")).payload.commodity).toBe(
      kept,
    );
    // The user's own rooms do not depend on `resources`: they stay.
    await ingestOk(tradeUpdate(user, "still-mine"));
    expect((await socket.nextEventData<{ payload: { id: string } }>("trade-update")).payload.id).toBe("still-mine");
    expect(socket.eventsReceived("market-update")).toHaveLength(1);
    // The dropped market can be subscribed again only with a token that reaches it.
    await socket.emit("subscribe-market", [dropped]);
    expect(await errorOf(socket)).toMatchObject({ code: "authorization_error" });
    // Authenticating again with the same reach drops nothing more.
    await socket.emit("authenticate", { userId: user, token: narrower });
    await socket.nextEventData("auth-success");
    await socket.emit("ping");
    await socket.nextEvent("pong");
    expect(socket.eventsReceived("market-unsubscribed")).toHaveLength(1);
  });

  // Regression: the part of a batch over the limit was refused, but the commodities before it
  // stayed subscribed (never live, delivering nothing) and kept counting against the limit; and
  // the refusal was invalid_message where /v1/ws says invalid_subscription.
  it("subscribe-market is all or nothing: a batch that would pass the limit is refused whole, as invalid_subscription", async () => {
    const prefix = unique("c");
    const names = (from: number, count: number) => Array.from({ length: count }, (_, i) => `${prefix}_${from + i}`);
    const { socket } = await loggedIn(websocket);
    // system_alerts holds one slot; fill all but one of the others.
    const free = MAX_SUBSCRIPTIONS_PER_SOCKET - 1;
    for (let from = 0; from < free - 1; from += MAX_COMMODITIES_PER_REQUEST) {
      await socket.emit("subscribe-market", names(from, Math.min(MAX_COMMODITIES_PER_REQUEST, free - 1 - from)));
      await socket.nextEvent("market-subscribed", 15_000);
    }
    const [first, second] = names(1000, 2);
    const [refusal] = await socket.request(9, "subscribe-market", [first, second]);
    expect(refusal).toEqual({
      error: {
        code: "invalid_subscription",
        message: expect.any(String),
        details: { event: "subscribe-market", issue: "subscription_limit", limit: MAX_SUBSCRIPTIONS_PER_SOCKET },
      },
    });
    // Nothing of the refused batch holds a slot or receives anything: the last slot is free.
    const [last] = names(2000, 1);
    await socket.emit("subscribe-market", [last]);
    expect(await socket.nextEventData("market-subscribed")).toMatchObject({ commodities: [last] });
    await ingestOk([marketUpdate(first as string, 1), marketUpdate(last as string, 2)]);
    expect((await socket.nextEventData<{ payload: { commodity: string } }>("market-update")).payload.commodity).toBe(
      last,
    );
    await socket.quiet(150);
    expect(socket.eventsReceived("market-update")).toHaveLength(1);
    // Full now: already-held commodities may be named again, a new one is refused.
    await socket.emit("subscribe-market", names(0, 2));
    await socket.nextEvent("market-subscribed");
    await socket.emit("subscribe-market", [first]);
    expect(await errorOf(socket)).toMatchObject({
      code: "invalid_subscription",
      details: { issue: "subscription_limit", limit: MAX_SUBSCRIPTIONS_PER_SOCKET },
    });
  });

  it("an unknown event → error invalid_event; arguments of the wrong type → error invalid_message", async () => {
    const { socket } = await loggedIn(websocket);
    await socket.emit("launch-rockets", {});
    expect(await errorOf(socket)).toMatchObject({ code: "invalid_event", message: expect.any(String) });
    await socket.send("42[7]");
    expect(await errorOf(socket)).toMatchObject({ code: "invalid_event" });
    await socket.emit("__proto__", {});
    expect(await errorOf(socket)).toMatchObject({ code: "invalid_event" });
    const bad: [string, unknown[]][] = [
      ["join-trading", [5]],
      ["join-trading", []],
      ["join-trading", [""]],
      ["subscribe-orders", [{ userId: "x" }]],
      ["subscribe-compliance", [null]],
      ["subscribe-market", ["crude_oil"]],
      ["subscribe-market", [[]]],
      ["subscribe-market", [[1, 2]]],
      ["subscribe-market", [["crude oil!"]]],
      ["unsubscribe-market", [{}]],
    ];
    for (const [event, args] of bad) {
      await socket.emit(event, ...args);
      expect(await errorOf(socket), `${event} ${JSON.stringify(args)}`).toMatchObject({ code: "invalid_message" });
    }
    // The session is fine afterwards.
    await socket.emit("ping");
    await socket.nextEvent("pong");
  });

  it("an ack id gets 43<id>[confirmation]; a refused event with an ack id gets 43<id>[{error}] instead of an error event", async () => {
    const { user, socket } = await loggedIn(websocket);
    await socket.send(`421${JSON.stringify(["join-trading", user])}`);
    const ack = await socket.nextPacket((p) => p.startsWith("431"));
    expect(JSON.parse(ack.slice(3))).toEqual([
      { room: `trading-${user}`, message: `Joined trading room for user ${user}` },
    ]);
    expect(await socket.request(2, "subscribe-market", ["crude_oil"])).toEqual([
      { commodities: ["crude_oil"], message: "Subscribed to market data for: crude_oil" },
    ]);
    expect(await socket.request(4, "join-trading", "someone-else")).toEqual([
      { error: expect.objectContaining({ code: "authorization_error", message: expect.any(String) }) },
    ]);
    expect(await socket.request(5, "no-such-event")).toEqual([
      { error: expect.objectContaining({ code: "invalid_event" }) },
    ]);
    expect(await socket.request(6, "subscribe-market", "crude_oil")).toEqual([
      { error: expect.objectContaining({ code: "invalid_message" }) },
    ]);
    const unauthenticated = await websocket();
    await unauthenticated.connect();
    expect(await unauthenticated.request(77, "join-trading", user)).toEqual([
      { error: expect.objectContaining({ code: "authentication_error" }) },
    ]);
    await socket.quiet(50);
    expect(socket.eventsReceived("error")).toEqual([]);
    expect(unauthenticated.eventsReceived("error")).toEqual([]);
  });

  // Regression (fixed in the `ping` handler): every other handler returns its
  // confirmation's payload, which is also given to the ack ("Each returns the payload of its
  // confirmation, also given to an ack"), but `ping` returns the result of #emit (undefined), so
  // `423["ping"]` is acknowledged with `433[null]` instead of `433[{"timestamp":...}]` and a
  // socket.io-client `socket.emit("ping", (pong) => ...)` gets null.
  // Proposed fix (checked): `ping: async (session) => { const pong = { timestamp: Date.now() };
  // this.#emit(session, "pong", pong); return pong; }`.
  it("ping with an ack id is acknowledged with the pong payload {timestamp}", async () => {
    const socket = await websocket();
    await socket.connect();
    const before = Date.now();
    expect(await socket.request(3, "ping")).toEqual([{ timestamp: expect.any(Number) }]);
    expect((await socket.nextEventData<{ timestamp: number }>("pong")).timestamp).toBeGreaterThanOrEqual(before - 1000);
  });

  it("BINARY_EVENT is refused with invalid_message (in the ack when there is an ack id)", async () => {
    const { socket } = await loggedIn(websocket);
    await socket.send('451-["upload",{"_placeholder":true,"num":0}]');
    expect(await errorOf(socket)).toMatchObject({ code: "invalid_message", details: { issue: "binary" } });
    await socket.send('451-9["upload",{"_placeholder":true,"num":0}]');
    expect(await socket.nextAck(9)).toEqual([{ error: expect.objectContaining({ code: "invalid_message" }) }]);
    // The attachment itself, as a binary frame, is ignored; the session goes on.
    socket.ws.send(new Uint8Array([1, 2, 3]));
    await socket.emit("ping");
    await socket.nextEvent("pong");
    expect(socket.closed).toBeNull();
  });
});

describe("leaving", () => {
  it("a Socket.IO DISCONNECT (41) leaves every room; a new CONNECT must authenticate again", async () => {
    const { user, socket } = await loggedIn(websocket);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await socket.send("41");
    await sleep(50);
    await ingestOk([tradeUpdate(user), systemAlert(unique("after-disconnect"))]);
    expect(await socket.quiet(150)).toEqual([]);
    expect((await socket.connect()).type).toBe(0);
    await socket.emit("join-trading", user);
    expect(await errorOf(socket)).toMatchObject({ code: "authentication_error" });
  });

  it("an evicted hub keeps its WebSocket sessions: events, replies and pongs go on", async () => {
    const { user, socket } = await loggedIn(websocket);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await evictDurableObject(hubOfSid(socket.sid));
    await ingestOk(tradeUpdate(user, "after-eviction"));
    expect((await socket.nextEventData<{ payload: { id: string } }>("trade-update")).payload.id).toBe("after-eviction");
    await socket.emit("subscribe-orders", user);
    expect(await socket.nextEventData("orders-subscribed")).toMatchObject({ userId: user });
    await socket.send("3");
    expect(await socket.nextPacket((p) => p === "6")).toBe("6");
  });
});

describe("ingest → delivery", () => {
  it("market-update reaches the market's subscribers only, with the offset as the last argument", async () => {
    const commodity = unique("crude");
    const { socket: subscriber } = await loggedIn(polling);
    const { socket: other } = await loggedIn(websocket);
    await subscriber.emit("subscribe-market", [commodity]);
    await subscriber.nextEvent("market-subscribed");
    await other.emit("subscribe-market", [unique("gas")]);
    await other.nextEvent("market-subscribed");
    await ingestOk(marketUpdate(commodity, 75.25));
    const packet = await subscriber.nextPacket((p) => p.startsWith('42["market-update"'));
    expect(packet).toBe(`42${JSON.stringify(["market-update", marketUpdate(commodity, 75.25).data, "1"])}`);
    expect(await other.quiet(150)).toEqual([]);
  });

  it("trade-update, order-update and compliance-alert reach the user's own rooms only", async () => {
    const alice = await loggedIn(websocket);
    const bob = await loggedIn(polling);
    for (const { user, socket } of [alice, bob]) {
      await socket.emit("join-trading", user);
      await socket.emit("subscribe-orders", user);
      await socket.emit("subscribe-compliance", user);
      await socket.nextEvent("trading-joined");
      await socket.nextEvent("orders-subscribed");
      await socket.nextEvent("compliance-subscribed");
    }
    await ingestOk([tradeUpdate(alice.user), orderUpdate(alice.user), complianceAlert(alice.user)]);
    expect(await alice.socket.nextEvent("trade-update")).toEqual([tradeUpdate(alice.user).data, OFFSET]);
    expect(await alice.socket.nextEvent("order-update")).toEqual([orderUpdate(alice.user).data, OFFSET]);
    expect(await alice.socket.nextEvent("compliance-alert")).toEqual([complianceAlert(alice.user).data, OFFSET]);
    // One offset sequence over all the session's rooms.
    const offsets = ["trade-update", "order-update", "compliance-alert"].map((event) =>
      Number(alice.socket.eventsReceived(event)[0]?.[1]),
    );
    expect(offsets.sort()).toEqual([1, 2, 3]);
    expect(await bob.socket.quiet(150)).toEqual([]);
    // And the other way round.
    await ingestOk(orderUpdate(bob.user));
    expect((await bob.socket.nextEventData<{ userId: string }>("order-update")).userId).toBe(bob.user);
    expect(await alice.socket.quiet(100)).toEqual([]);
  });

  it("system-alert reaches every authenticated session, and no unauthenticated one", async () => {
    const viaWebSocket = await loggedIn(websocket);
    const viaPolling = await loggedIn(polling);
    const user = unique("user");
    const viaConnectAuth = await websocket();
    await viaConnectAuth.connect({ token: await signToken({ sub: user }), userId: user });
    const connectedOnly = await polling();
    await connectedOnly.connect();
    const notConnected = await websocket();
    const message = unique("volatility");
    await ingestOk(systemAlert(message));
    for (const socket of [viaWebSocket.socket, viaPolling.socket, viaConnectAuth]) {
      const [data, offset] = await socket.nextEvent("system-alert");
      expect(data).toEqual(systemAlert(message).data);
      expect(offset).toBe("1");
    }
    expect(await connectedOnly.quiet(150)).toEqual([]);
    expect(await notConnected.quiet(0)).toEqual([]);
  });
});

describe("polling transport", () => {
  it("holds a GET until a packet arrives", async () => {
    const { user, socket } = await loggedIn(polling);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await stopPolling(socket);
    let answered = false;
    const held = socket.get().then(async (response) => {
      answered = true;
      return { status: response.status, body: await response.text() };
    });
    await sleep(150);
    expect(answered).toBe(false);
    await ingestOk(tradeUpdate(user));
    const { status, body } = await held;
    expect(status).toBe(200);
    expect(body).toBe(`42${JSON.stringify(["trade-update", tradeUpdate(user).data, "1"])}`);
  });

  it("takes several packets in one POST, joined by \\x1e, and answers them in order", async () => {
    const user = unique("user");
    const socket = await polling();
    await socket.send(
      "40",
      '42["ping"]',
      `42${JSON.stringify(["authenticate", { userId: user, token: await signToken({ sub: user }) }])}`,
      `42${JSON.stringify(["join-trading", user])}`,
      `42${JSON.stringify(["subscribe-orders", user])}`,
    );
    await socket.nextEvent("orders-subscribed");
    const sio = socket.log
      .filter((p) => p.startsWith("4"))
      .map((p) => (p.startsWith("42") ? JSON.parse(p.slice(2))[0] : p.slice(0, 2)));
    expect(sio).toEqual(["40", "pong", "auth-success", "trading-joined", "orders-subscribed"]);
  });

  it("answers a GET with every packet queued, joined by \\x1e", async () => {
    const { user, socket } = await loggedIn(polling);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await stopPolling(socket);
    await ingestOk([tradeUpdate(user, "t1"), tradeUpdate(user, "t2"), tradeUpdate(user, "t3")]);
    await sleep(100); // let the three deliveries queue up
    const body = await (await socket.get()).text();
    const packets = body.split(RS);
    expect(packets.length).toBeGreaterThanOrEqual(2);
    socket.start();
    await until(() => socket.eventsReceived("trade-update").length + packets.length >= 3, "the rest");
  });

  it("two overlapping GETs end the session", async () => {
    const socket = track(await PollingSocket.open());
    const first = socket.get();
    await sleep(50);
    const second = await socket.get();
    expect(second.status).toBe(400);
    expect(await second.json()).toEqual({ code: 3, message: "Bad request" });
    expect(await (await first).text()).toBe("1");
    await expectGone(socket);
  });

  it("a POST over maxPayload → 413, and the session is closed", async () => {
    const socket = track(await PollingSocket.open());
    const response = await socket.post(`42${JSON.stringify(["ping", "x".repeat(socket.handshake.maxPayload)])}`);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 3 });
    await expectGone(socket);
    // Exactly maxPayload is fine (a noop padded with data, which is ignored).
    const ok = track(await PollingSocket.open());
    const exactly = await ok.post("6".repeat(ok.handshake.maxPayload));
    expect(exactly.status).toBe(200);
    expect(await exactly.text()).toBe("ok");
  });

  // Regression: the whole body was read into memory before its size was checked, so a body that
  // passes maxPayload and never ends held the request (and the hub's memory) open.
  it("a POST body is read with a bound: refused with 413 once past maxPayload, without waiting for the rest", async () => {
    const socket = track(await PollingSocket.open());
    const chunk = new TextEncoder().encode("6".repeat(16 * 1024));
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Past maxPayload, then the stream stalls: it never ends.
        if (sent <= socket.handshake.maxPayload) {
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        }
      },
    });
    const response = await Promise.race([
      exports.default.fetch(engineUrl("polling", socket.sid), {
        method: "POST",
        body: endless,
        duplex: "half",
      } as RequestInit),
      sleep(3000).then(() => null),
    ]);
    expect(response?.status, "answered before the body ended").toBe(413);
    expect(await response?.json()).toMatchObject({ code: 3 });
    await expectGone(socket);
    // A declared Content-Length over maxPayload is refused before any of the body is read.
    const declared = track(await PollingSocket.open());
    const { readable, writable } = new FixedLengthStream(10 * 1024 * 1024);
    const writer = writable.getWriter();
    void writer.write(chunk).catch(() => undefined);
    const early = await Promise.race([
      exports.default.fetch(engineUrl("polling", declared.sid), {
        method: "POST",
        body: readable,
        duplex: "half",
      } as RequestInit),
      sleep(3000).then(() => null),
    ]);
    expect(early?.status, "answered from the declared length").toBe(413);
    await early?.text();
    void writer.abort().catch(() => undefined);
  });
});

describe("upgrade to WebSocket", () => {
  it("probe, 3probe, the pending poll released with a noop, 5, then packets flow over the WebSocket", async () => {
    const { user, socket } = await loggedIn(polling);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    // A poll is pending (nothing is queued): the probe must release it.
    await sleep(50);
    const bodiesBefore = socket.pollBodies.length;
    const ws = track(await WebSocketSocket.probe(socket.sid));
    await ws.send("2probe");
    expect(await ws.nextPacket()).toBe("3probe");
    await socket.pause();
    expect(socket.pollBodies.slice(bodiesBefore)).toEqual(["6"]);
    await ws.send("5");
    // Now the session is on the WebSocket: events, replies and pings come there.
    await ws.emit("subscribe-orders", user);
    expect(await ws.nextEventData("orders-subscribed")).toMatchObject({ userId: user });
    await ingestOk(tradeUpdate(user, "after-upgrade"));
    expect((await ws.nextEventData<{ payload: { id: string } }>("trade-update")).payload.id).toBe("after-upgrade");
    expect(socket.eventsReceived("trade-update")).toEqual([]);
    // Polling is over for this session.
    const poll = await socket.get();
    expect(poll.status).toBe(400);
    expect(await poll.json()).toEqual({ code: 3, message: "Bad request" });
    // A second upgrade of the same session is refused.
    const again = await exports.default.fetch(engineUrl("websocket", socket.sid), {
      headers: { Upgrade: "websocket" },
    });
    expect(again.status).toBe(400);
    await again.text();
  });

  // Regression (fixed in #poll): the probe queues ONE noop. A client whose
  // pending poll is released by it before it has seen `3probe` polls again (engine.io-client
  // Polling#onData re-polls while its readyState is still "open"; it stops only once it pauses
  // on 3probe) and then waits for that poll to end before sending `5`: nothing releases it until
  // the next packet or the 30 s poll hold, so an idle session's upgrade stalls for up to ~25 s.
  // engine.io (6.6.12, build/socket.js _maybeUpgrade) keeps writing a noop every 100 ms while
  // the upgrade is in progress. Evidence: this test's pause() times out after 2 s.
  // Proposed fix (checked against this file): in #poll, hold a GET made while `session.probe` is
  // set for 100 ms instead of POLL_HOLD_MS (`}, session.probe ? 100 : POLL_HOLD_MS);`), so it
  // returns a noop. (Answering such a GET at once with a noop makes the client spin.)
  it("a poll that starts during the upgrade is released too (engine.io's repeated noop)", async () => {
    const { socket } = await loggedIn(polling);
    await sleep(50); // the loop's GET is pending
    const bodiesBefore = socket.pollBodies.length;
    const ws = track(await WebSocketSocket.probe(socket.sid));
    await ws.send("2probe");
    expect(await ws.nextPacket()).toBe("3probe");
    // The noop released the pending poll, and the loop (like socket.io-client before it sees
    // 3probe) has polled again.
    await until(() => socket.pollBodies.length > bodiesBefore, "the noop");
    await sleep(20);
    // Like socket.io-client on 3probe: wait for the poll in flight, then send 5.
    await socket.pause(2000);
    await ws.send("5");
    await ws.emit("ping");
    await ws.nextEvent("pong");
  });

  it("a probe that closes before 5 leaves the polling session as it was", async () => {
    const { user, socket } = await loggedIn(polling);
    const probe = await WebSocketSocket.probe(socket.sid);
    await probe.send("2probe");
    expect(await probe.nextPacket()).toBe("3probe");
    await probe.close();
    await ingestOk(tradeUpdate(user, "x")); // not joined: must not arrive
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await ingestOk(tradeUpdate(user, "still-polling"));
    expect((await socket.nextEventData<{ payload: { id: string } }>("trade-update")).payload.id).toBe("still-polling");
    expect(socket.eventsReceived("trade-update")).toHaveLength(1);
  });

  // Regression (fixed in onWebSocketClose): a
  // probe that sends anything but `2probe` / `5` is closed by the server (1003) and
  // `session.probe` is set to null, but the probe stays in the hub's socket map. When its close
  // completes, webSocketClose → #forgetWebSocket → EngineIo.onWebSocketClose(session, ws) no
  // longer recognises it as the probe and closes the whole session: the polling transport, which
  // was fine, then answers 400 "Session ID unknown".
  // Proposed fix (checked against this file): in EngineIo.onWebSocketClose, after the probe
  // case, `if (ws !== session.ws) return;` (or forget the refused probe in the hub's #sockets).
  it("a bad packet on a probe ends the probe, not the polling session", async () => {
    const { socket } = await loggedIn(polling);
    const bad = await WebSocketSocket.probe(socket.sid);
    await bad.send("4hello");
    expect((await bad.waitClosed()).code).toBe(1003);
    await sleep(50);
    await socket.emit("ping");
    await socket.nextEvent("pong");
    expect(socket.closed).toBeNull();
  });

  it("nothing queued during the switch is lost or duplicated", async () => {
    const commodity = unique("crude");
    const { socket } = await loggedIn(polling);
    await socket.emit("subscribe-market", [commodity]);
    await socket.nextEvent("market-subscribed");
    let price = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) await ingestOk(marketUpdate(commodity, price++));
    };
    const received = (transport: EngineSocket) => transport.eventsReceived("market-update");
    await publish(5); // over polling
    await until(() => received(socket).length === 5, "5 updates over polling");
    const ws = track(await WebSocketSocket.probe(socket.sid));
    await ws.send("2probe");
    const duringProbe = publish(5); // while probing: still polling
    expect(await ws.nextPacket()).toBe("3probe");
    const paused = socket.pause();
    await duringProbe;
    await paused;
    const beforeSwitch = received(socket).length;
    await publish(5); // nobody polls and the session has not switched yet: queued
    expect(received(socket)).toHaveLength(beforeSwitch);
    const afterSwitch = publish(5); // races with the switch
    await ws.send("5");
    await afterSwitch;
    await publish(5); // on the WebSocket
    const total = 25;
    const all = () => [...received(socket), ...received(ws)];
    await until(() => all().length >= total, `${total} updates`, 5000);
    await ws.quiet(100);
    expect(all().map((args) => (args[0] as { payload: { price: number } }).payload.price)).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    const offsets = all().map((args) => Number(args[1]));
    expect(offsets).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(received(ws).length).toBeGreaterThanOrEqual(15);
  });
});

describe("heartbeat", () => {
  it("pings every session; a pong keeps it, a session that does not pong is closed after pingTimeout", async () => {
    const ponging = await websocket({ autoPong: false });
    const silent = await websocket({ autoPong: false });
    const pollingPonging = await polling({ autoPong: false });
    const pollingSilent = await polling({ autoPong: false });
    const all = [ponging, silent, pollingPonging, pollingSilent];
    const sids = all.map((socket) => (socket as { sid: string }).sid);
    for (const socket of all) await socket.connect();

    // First ping: the previous one was long before these sessions opened, so nobody is late.
    await alarmOn(sids, Date.now() - 60_000);
    for (const socket of all) expect(await socket.nextPacket((p) => p === "2")).toBe("2");
    await ponging.send("3");
    expect(await ponging.nextPacket((p) => p === "6")).toBe("6"); // the runtime's auto-response
    await pollingPonging.send("3");

    // The next alarm, pingTimeout (and a ping interval) later.
    expect(PING_INTERVAL_MS + 1000).toBeGreaterThan(PING_TIMEOUT_MS);
    await alarmLater(sids, PING_INTERVAL_MS + 1000);

    expect(await ponging.nextPacket((p) => p === "2")).toBe("2");
    expect(await pollingPonging.nextPacket((p) => p === "2")).toBe("2");
    expect(await silent.waitClosed()).toMatchObject({ code: 1000 });
    await pollingSilent.waitClosed();
    expect(pollingSilent.log.at(-1)).toBe("1");
    await expectGone(pollingSilent);
    // The survivors still work.
    for (const socket of [ponging, pollingPonging]) {
      await socket.emit("ping");
      await socket.nextEvent("pong");
    }
    // Put the hubs' clocks back for the tests that follow.
    for (const sid of sids) await setLastPingAt(sid, Date.now());
  });
});

describe("heartbeat across the upgrade", () => {
  // Regression: on a quiet hub the next ping is already due, so a new session is pinged at once,
  // while still polling. It answered over polling, upgraded, and a ping interval later was closed
  // with "ping timeout": the heartbeat looked only at the WebSocket's (absent) pong, for a ping
  // that was never sent on it.
  it("ping over polling, pong over polling, upgrade, then a full ping interval and more: still open", async () => {
    const socket = await polling({ autoPong: false });
    await socket.connect();
    const sids = [socket.sid];
    await alarmOn(sids, Date.now() - 60_000);
    expect(await socket.nextPacket((p) => p === "2")).toBe("2");
    await socket.send("3");
    const ws = track(await WebSocketSocket.probe(socket.sid));
    await ws.send("2probe");
    expect(await ws.nextPacket()).toBe("3probe");
    await socket.pause();
    await ws.send("5");
    await alarmLater(sids, PING_INTERVAL_MS + 1000);
    // Pinged again, now on the WebSocket, and not closed.
    expect(await ws.nextPacket((p) => p === "2")).toBe("2");
    await ws.emit("ping");
    await ws.nextEvent("pong");
    expect(ws.closed).toBeNull();
    for (const sid of sids) await setLastPingAt(sid, Date.now());
  });
});

describe("protocol errors", () => {
  it("messages over the rate limit are refused with error invalid_message {issue: rate_limited}", async () => {
    const socket = track(await PollingSocket.open());
    const count = 130;
    await socket.send("40", ...Array.from({ length: count }, () => '42["ping"]'));
    socket.start();
    // The burst is answered (the CONNECT took one token); of the 30 or so refused, only the first
    // MAX_RATE_LIMITED_REPLIES are.
    await until(
      () =>
        socket.eventsReceived("pong").length >= MESSAGE_BURST - 1 &&
        socket.eventsReceived("error").length >= Math.min(MAX_RATE_LIMITED_REPLIES, count - MESSAGE_BURST - 5),
      "the burst's pongs and the refusals' replies",
    );
    await socket.quiet(150);
    const errors = socket.eventsReceived("error").map((args) => args[0]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(MAX_RATE_LIMITED_REPLIES);
    expect(errors[0]).toMatchObject({ code: "invalid_message", details: { issue: "rate_limited" } });
    expect(socket.eventsReceived("pong").length + errors.length).toBeLessThan(count);
    expect(socket.closed).toBeNull();
  });

  // Regression: any accepted message reset the count of refusals, so a flood that let a few
  // messages through was throttled forever, and every refused message cost an error event.
  it(`a session refused more than ${MAX_RATE_REFUSALS} times in a window is closed (1008), messages accepted in between or not`, async () => {
    const socket = await websocket();
    await socket.connect();
    for (let wave = 0; wave < 8 && !socket.closed; wave++) {
      try {
        await socket.send(...Array.from({ length: 100 }, () => '42["ping"]'));
      } catch {
        break; // closed under us
      }
      await sleep(100);
    }
    expect((await socket.waitClosed()).code).toBe(1008);
    expect(socket.eventsReceived("pong").length, "messages were accepted between the refusals").toBeGreaterThan(
      MESSAGE_BURST,
    );
    const errors = socket.eventsReceived("error").map((args) => args[0]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(MAX_RATE_LIMITED_REPLIES);
  });

  // Regression: a user could authenticate any number of sessions.
  it(`a user's authenticated sessions on one hub are bounded (${MAX_SIO_SESSIONS_PER_USER}): auth-error / CONNECT_ERROR authorization_error {issue: connection_limit}`, async () => {
    const user = unique("user");
    const token = await signToken({ sub: user });
    // Every handshake picks the same shard, so these sessions share a hub.
    const random = vi.spyOn(Math, "random").mockReturnValue(0.99);
    const sessions: WebSocketSocket[] = [];
    try {
      for (let i = 0; i < MAX_SIO_SESSIONS_PER_USER + 2; i++) sessions.push(await websocket());
    } finally {
      random.mockRestore();
    }
    expect(new Set(sessions.map((session) => hubName(session.sid))).size).toBe(1);
    const [extra, viaConnect] = sessions.slice(MAX_SIO_SESSIONS_PER_USER) as [WebSocketSocket, WebSocketSocket];
    for (const session of sessions.slice(0, MAX_SIO_SESSIONS_PER_USER)) await session.login(user, token);
    expect((await extra.connect()).type).toBe(0);
    await extra.emit("authenticate", { userId: user, token });
    const limit = { issue: "connection_limit", limit: MAX_SIO_SESSIONS_PER_USER };
    expect(await extra.nextEventData("auth-error")).toEqual({
      message: expect.any(String),
      code: "authorization_error",
      details: limit,
    });
    await extra.emit("join-trading", user);
    expect(await errorOf(extra)).toMatchObject({ code: "authentication_error", message: "Authenticate first" });
    const refused = await viaConnect.connect({ token, userId: user });
    expect(refused.type).toBe(4);
    expect(refused.data).toEqual({ message: expect.any(String), data: { code: "authorization_error", ...limit } });
    // Authenticating a counted session again is fine; another user is not affected.
    await (sessions[0] as WebSocketSocket).emit("authenticate", { userId: user, token });
    expect(await (sessions[0] as WebSocketSocket).nextEventData("auth-success")).toMatchObject({ userId: user });
    const other = unique("user");
    await extra.emit("authenticate", { userId: other, token: await signToken({ sub: other }) });
    expect(await extra.nextEventData("auth-success")).toMatchObject({ userId: other });
    // A session that ends frees its place.
    await (sessions[1] as WebSocketSocket).close();
    await sleep(50);
    expect((await viaConnect.connect({ token, userId: user })).type).toBe(0);
    await viaConnect.emit("join-trading", user);
    expect(await viaConnect.nextEventData("trading-joined")).toMatchObject({ room: `trading-${user}` });
  });

  it("a malformed Engine.IO packet (unknown type, empty) closes the session; others are unaffected", async () => {
    for (const bad of ["9", "x", ""]) {
      const victim = await websocket();
      const bystander = await websocket();
      await victim.connect();
      await bystander.connect();
      await victim.send(bad);
      expect((await victim.waitClosed()).code, JSON.stringify(bad)).toBe(1003);
      await bystander.emit("ping");
      await bystander.nextEvent("pong");
      await bystander.close();
    }
    // Over polling: 400, and the session is gone.
    const victim = track(await PollingSocket.open());
    const response = await victim.post(`40${RS}9`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ code: 3, message: "Bad request" });
    await expectGone(victim);
    const emptyBody = track(await PollingSocket.open());
    const empty = await emptyBody.post("");
    expect(empty.status).toBe(400);
    await empty.text();
  });

  it("a Socket.IO packet that is not JSON (or of an unknown type) closes the session; others are unaffected", async () => {
    for (const bad of ["42{not json", '42["ping"', "49", "4"]) {
      const victim = await websocket();
      const bystander = await websocket();
      await victim.connect();
      await bystander.connect();
      await victim.send(bad);
      expect((await victim.waitClosed()).code, bad).toBe(1003);
      await bystander.emit("ping");
      await bystander.nextEvent("pong");
      await bystander.close();
    }
    const victim = await polling();
    await victim.connect();
    await victim.send("42{not json");
    await victim.waitClosed();
    expect(victim.log.at(-1)).toBe("1");
  });
});

describe("token expiry", () => {
  it("an authenticated session whose token expires gets auth-error, then is closed with 4401", async () => {
    const user = unique("expiring");
    const token = await signExpiringToken({ sub: user }); // valid thanks to the 30 s clock tolerance
    const socket = await websocket();
    await socket.login(user, token);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    const endsAt = ((decodeJwt(token).exp as number) + 30) * 1000;
    await sleep(Math.max(0, endsAt - Date.now() + 20));
    // The hub's alarm fires by itself at the expiry; run it now in case it has not yet.
    await runDurableObjectAlarm(hubOfSid(socket.sid));
    expect(await socket.nextEventData("auth-error")).toMatchObject({ message: expect.any(String) });
    expect((await socket.waitClosed()).code).toBe(4401);
  });
});

describe("token expiry over polling", () => {
  // Regression (fixed in close()): a closing poll carries what was queued only when a poll
  // is pending at that moment. On expiry the hub sends `auth-error` (which at once answers the
  // pending poll), then the Socket.IO DISCONNECT `41`, then closes: `41` and the close packet
  // sit in the outbox with no poll to carry them and are dropped. The client's next poll gets
  // 400 "Session ID unknown" (socket.io-client: a transport error, and it reconnects) instead of
  // `41` (an "io server disconnect"); without a poll pending even `auth-error` is lost. engine.io
  // flushes its write buffer before closing and answers the next GET with the close packet.
  // Evidence: the log ends with auth-error, then closed = 400 {"code":1,"message":"Session ID
  // unknown"}.
  // Proposed fix (checked against this file): when close() finds no pending poll on a polling
  // session, keep `encodePayload([...outbox, "1"])` for that sid for a few seconds and answer the
  // next GET with it (then forget it).
  it("auth-error, the Socket.IO DISCONNECT and the close packet all reach the client", async () => {
    const user = unique("expiring");
    const token = await signExpiringToken({ sub: user });
    const socket = await polling();
    await socket.login(user, token);
    const endsAt = ((decodeJwt(token).exp as number) + 30) * 1000;
    await sleep(Math.max(0, endsAt - Date.now() + 20));
    await runDurableObjectAlarm(hubOfSid(socket.sid));
    await socket.waitClosed();
    const tail = socket.log.slice(socket.log.findIndex((p) => p.startsWith('42["auth-error"')));
    expect(
      tail.map((p) => p.slice(0, 2)),
      JSON.stringify({ tail, closed: socket.closed }),
    ).toEqual(["42", "41", "1"]);
  });
});

describe("connection state recovery", () => {
  it("a new session CONNECTing with {pid, offset} gets the same pid and the events it missed, without re-joining", async () => {
    const commodity = unique("crude");
    const { user, socket: first, pid } = await loggedIn(websocket);
    await first.emit("join-trading", user);
    await first.nextEvent("trading-joined");
    await first.emit("subscribe-market", [commodity]);
    await first.nextEvent("market-subscribed");
    await ingestOk(tradeUpdate(user, "seen"));
    const [, offset] = await first.nextEvent("trade-update");
    expect(offset).toBe("1");
    await first.close();

    // Published while no session is connected.
    const missedTrade = await ingestOk(tradeUpdate(user, "missed"));
    const missedTick = await ingestOk(marketUpdate(commodity, 80));

    // On another hub than the first session's, which holds what recovery needs.
    let second = await websocket();
    for (let i = 0; i < 30 && hubName(second.sid) === hubName(first.handshake?.sid ?? ""); i++) {
      await second.close();
      second = await websocket();
    }
    expect(hubName(second.sid)).not.toBe(hubName(first.handshake?.sid ?? ""));
    const reply = await second.connect({ pid, offset });
    expect(reply).toMatchObject({ type: 0, data: { sid: expect.any(String), pid } });
    const [trade, tradeOffset] = await second.nextEvent("trade-update");
    expect(trade).toEqual(tradeUpdate(user, "missed").data);
    const [tick, tickOffset] = await second.nextEvent("market-update");
    expect(tick).toEqual(marketUpdate(commodity, 80).data);
    expect(missedTrade.results[0]?.seq).toBe(2);
    expect(missedTick.results[0]?.seq).toBe(1);
    // The offsets go on from the first session's.
    expect([Number(tradeOffset), Number(tickOffset)].sort()).toEqual([2, 3]);
    // Live events keep coming, and nothing already seen is repeated.
    await ingestOk(tradeUpdate(user, "live"));
    await second.nextEvent("trade-update");
    expect(
      second.eventsReceived("trade-update").map((args) => (args[0] as { payload: { id: string } }).payload.id),
    ).toEqual(["missed", "live"]);
    // Still authenticated as the user.
    expect(await second.request(1, "subscribe-orders", user)).toEqual([
      { userId: user, room: `orders-${user}`, message: `Subscribed to order updates for user ${user}` },
    ]);
    expect(second.eventsReceived("auth-error")).toEqual([]);

    // A pid is good once: a third session with it starts fresh.
    const third = await websocket();
    const fresh = await third.connect({ pid, offset });
    expect((fresh.data as { pid: string }).pid).not.toBe(pid);
    await third.emit("join-trading", user);
    expect(await errorOf(third)).toMatchObject({ code: "authentication_error" });
  });

  it("a polling session that leaves with a close packet can be recovered too", async () => {
    const { user, socket: first, pid } = await loggedIn(polling);
    await first.emit("subscribe-compliance", user);
    await first.nextEvent("compliance-subscribed");
    await first.close();
    await ingestOk(complianceAlert(user));
    const second = await polling();
    expect(await second.connect({ pid })).toMatchObject({ type: 0, data: { pid } });
    expect(await second.nextEvent("compliance-alert")).toEqual([complianceAlert(user).data, "1"]);
  });

  // Events written to a transport that died are not "received": recovery resumes after the
  // client's offset, not after what was written (here: queued for a poll that never came).
  it("events queued for a polling session that dies are delivered on recovery from the client's offset", async () => {
    const { user, socket: first, pid } = await loggedIn(() => polling({ autoPong: false }));
    await first.emit("join-trading", user);
    await first.nextEvent("trading-joined");
    await ingestOk(tradeUpdate(user, "got-it"));
    const [, offset] = await first.nextEvent("trade-update");
    // The client's network drops: it polls no more; two trades are queued for it.
    await stopPolling(first);
    await ingestOk([tradeUpdate(user, "queued-1"), tradeUpdate(user, "queued-2")]);
    await sleep(100);
    // The heartbeat pings it, and closes it a ping interval later.
    await alarmOn([first.sid], Date.now() - 60_000);
    await alarmLater([first.sid], PING_INTERVAL_MS + 1000);
    await setLastPingAt(first.sid, Date.now());
    await expectGone(first);
    // It comes back with what it has: its pid and the offset of the last event it received.
    const second = await websocket();
    expect(await second.connect({ pid, offset })).toMatchObject({ type: 0, data: { pid } });
    await second.quiet(200);
    const ids = second
      .eventsReceived("trade-update")
      .map((args) => (args[0] as { payload: { id: string } }).payload.id);
    expect(ids).toEqual(["queued-1", "queued-2"]);
  });

  it("{recovery: false}: no pid in the CONNECT reply and no offset after the events", async () => {
    const user = unique("user");
    const socket = await websocket();
    const reply = await socket.connect({ token: await signToken({ sub: user }), userId: user, recovery: false });
    expect(reply.type).toBe(0);
    expect(Object.keys(reply.data as object)).toEqual(["sid"]);
    await socket.emit("join-trading", user);
    await socket.nextEvent("trading-joined");
    await ingestOk(tradeUpdate(user));
    expect(await socket.nextEvent("trade-update")).toEqual([tradeUpdate(user).data]);
  });

  it("an offset this session never sent, or a pid after the hub hibernated, is not recovered", async () => {
    const { user, socket: first, pid } = await loggedIn(websocket);
    await first.emit("join-trading", user);
    await first.nextEvent("trading-joined");
    await first.close();
    const second = await websocket();
    expect(((await second.connect({ pid, offset: "99" })).data as { pid: string }).pid).not.toBe(pid);

    const { socket: third, pid: thirdPid } = await loggedIn(websocket);
    await evictDurableObject(hubOfSid(third.sid));
    await third.close();
    const fourth = await websocket();
    expect(((await fourth.connect({ pid: thirdPid })).data as { pid: string }).pid).not.toBe(thirdPid);
  });

  it("an explicit DISCONNECT (41) leaves nothing to recover", async () => {
    const { socket: first, pid } = await loggedIn(websocket);
    await first.send("41");
    await sleep(30);
    await first.close();
    const second = await websocket();
    expect(((await second.connect({ pid })).data as { pid: string }).pid).not.toBe(pid);
  });

  // The same rule as `authenticate` again: a recovery whose CONNECT brings a narrower token does
  // not resume the markets that token no longer reaches.
  it("a recovery with a narrower token resumes only the markets it reaches: market-unsubscribed for the others", async () => {
    const user = unique("user");
    const [kept, dropped] = [unique("crude"), unique("gas")];
    const first = await websocket();
    const { pid } = await first.login(user, await signToken({ sub: user, resources: ["commodity:*"] }));
    await first.emit("subscribe-market", [kept, dropped]);
    await first.nextEvent("market-subscribed");
    await first.close();
    const second = await websocket();
    const narrower = await signToken({ sub: user, resources: [`commodity:${kept}`] });
    const reply = await second.connect({ pid, token: narrower, userId: user });
    expect((reply.data as { pid: string }).pid).toBe(pid);
    expect(await second.nextEventData("market-unsubscribed")).toEqual({
      commodities: [dropped],
      message: `Unsubscribed from market data for: ${dropped}`,
      reason: "authorization_error",
    });
    await ingestOk([marketUpdate(dropped, 1), marketUpdate(kept, 2)]);
    expect((await second.nextEventData<{ payload: { commodity: string } }>("market-update")).payload.commodity).toBe(
      kept,
    );
    await second.quiet(150);
    expect(second.eventsReceived("market-update")).toHaveLength(1);
  });

  // Regression: the hub looked a pid's hub up with a default of 1024 shards, not HUB_SHARDS (4
  // here), so an unauthenticated CONNECT made the runtime create (and persist) `sio:local:9`.
  it("a CONNECT whose pid names a hub beyond HUB_SHARDS gets a fresh session; that hub is never addressed", async () => {
    const pid = `local.9.${"A".repeat(24)}`;
    const user = unique("user");
    const ghost = env.SIO_HUB.getByName("sio:local:9");
    // Plant what a recovery would find there, had the hub existed.
    const record = {
      principal: { sub: user, email: user, scopes: [], resources: null, exp: Math.floor(Date.now() / 1000) + 3600 },
      rooms: [],
      log: { next: 1, log: [], baseline: {} },
    };
    await runInDurableObject(ghost, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT OR REPLACE INTO sio_recovery (pid, record, expires_at) VALUES (?, ?, ?)",
        pid,
        JSON.stringify(record),
        Date.now() + 60_000,
      );
    });
    const socket = await websocket();
    const reply = await socket.connect({ pid, offset: "0" });
    expect(reply.type).toBe(0);
    expect((reply.data as { pid: string }).pid).not.toBe(pid);
    // Not authenticated by the planted record, and the record is still there: never taken.
    await socket.emit("join-trading", user);
    expect(await errorOf(socket)).toMatchObject({ code: "authentication_error" });
    const left = await runInDurableObject(ghost, (_instance, state) =>
      state.storage.sql.exec("SELECT COUNT(*) AS n FROM sio_recovery WHERE pid = ?", pid).one(),
    );
    expect(left.n).toBe(1);
    // An unknown region is refused the same way.
    const elsewhere = await websocket();
    const fresh = await elsewhere.connect({ pid: `mars.0.${"A".repeat(24)}` });
    expect(fresh.type).toBe(0);
  });

  // socket.io-client sends its stored pid with whatever `auth` the app sets on reconnection.
  it("CONNECT with a pid and another user's auth does not recover the first user's rooms", async () => {
    const { user: alice, socket: first, pid } = await loggedIn(websocket);
    await first.emit("join-trading", alice);
    await first.nextEvent("trading-joined");
    await first.close();
    const bob = unique("user");
    const second = await websocket();
    const reply = await second.connect({ pid, token: await signToken({ sub: bob }), userId: bob });
    expect(reply.type).toBe(0);
    await ingestOk(tradeUpdate(alice, "alice-only"));
    await second.quiet(200);
    expect(second.eventsReceived("trade-update")).toEqual([]);
  });
});
