/**
 * The hubs speak one error vocabulary: the same limit gives the same code and `details.issue` on
 * the JSON protocol and on Socket.IO, and the same token expiry the same close code. Each case
 * reaches the limit on both protocols and compares what the clients were told, to each other and
 * to the documented value. Also: a socket whose token ran out receives nothing after it, even
 * when the hub's alarm (bucketed) has not fired yet.
 */
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { CLOSE_CODES } from "../../src/protocol/errors";
import { MAX_SUBSCRIPTIONS_PER_SOCKET, MESSAGE_BURST } from "../../src/protocol/limits";
import { MAX_COMMODITIES_PER_REQUEST } from "../../src/protocol/quantenergx/events";
import { marketUpdate } from "../fixtures/quantenergx-events";
import { connect, ingestOk, progress, type TestSocket, unique } from "../helpers/client";
import { type EngineSocket, WebSocketSocket } from "../helpers/engine-io-client";
import { signExpiringToken, signToken } from "../helpers/tokens";

const opened: (EngineSocket | TestSocket)[] = [];
function track<S extends EngineSocket | TestSocket>(socket: S): S {
  opened.push(socket);
  return socket;
}
afterEach(async () => {
  for (const socket of opened.splice(0)) {
    try {
      await socket.close();
    } catch {
      // already closed
    }
  }
});

/** What a client can switch on: the code, and `details.issue` with its `limit`. */
function vocabulary(error: unknown): { code: unknown; issue: unknown; limit: unknown } {
  const { code, details } = error as { code?: unknown; details?: { issue?: unknown; limit?: unknown } };
  return { code, issue: details?.issue, limit: details?.limit };
}

async function sioSession(user = unique("user")): Promise<{ user: string; socket: WebSocketSocket }> {
  const socket = track(await WebSocketSocket.open());
  await socket.login(user, await signToken({ sub: user }));
  return { user, socket };
}

describe("one error vocabulary on both protocols", () => {
  it("the subscription limit: invalid_subscription {issue: subscription_limit, limit} on /v1/ws and on Socket.IO", async () => {
    const expected = { code: "invalid_subscription", issue: "subscription_limit", limit: MAX_SUBSCRIPTIONS_PER_SOCKET };

    const json = track(await connect(await signToken()));
    const funds = unique("fund");
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_SOCKET; i++) {
      json.send("subscribe", { channel: "fund_updates", fund_id: `${funds}_${i}` }, `s${i}`);
    }
    await json.next((frame) => frame.id === `s${MAX_SUBSCRIPTIONS_PER_SOCKET - 1}`, 15_000);
    const overJson = await json.request("subscribe", { channel: "fund_updates", fund_id: `${funds}_over` }, "over");
    expect(overJson.event).toBe("error");

    const { socket: sio } = await sioSession();
    const commodities = unique("c");
    // system-alerts holds one slot: fill the others.
    const free = MAX_SUBSCRIPTIONS_PER_SOCKET - 1;
    for (let from = 0; from < free; from += MAX_COMMODITIES_PER_REQUEST) {
      const count = Math.min(MAX_COMMODITIES_PER_REQUEST, free - from);
      await sio.emit(
        "subscribe-market",
        Array.from({ length: count }, (_, i) => `${commodities}_${from + i}`),
      );
      await sio.nextEvent("market-subscribed", 15_000);
    }
    const [overSio] = await sio.request(7, "subscribe-market", [`${commodities}_over`]);

    expect(vocabulary(overJson.data)).toEqual(expected);
    expect(vocabulary((overSio as { error: unknown }).error)).toEqual(expected);
  });

  it("the message rate: invalid_message {issue: rate_limited} on /v1/ws and on Socket.IO", async () => {
    const expected = { code: "invalid_message", issue: "rate_limited", limit: undefined };
    const flood = MESSAGE_BURST + 20;

    const json = track(await connect(await signToken()));
    for (let i = 0; i < flood; i++) json.send("ping", {}, `p${i}`);
    const overJson = await json.nextEvent("error", 10_000);

    const { socket: sio } = await sioSession();
    await sio.send(...Array.from({ length: flood }, () => '42["ping"]'));
    const overSio = await sio.nextEventData("error", 10_000);

    expect(vocabulary(overJson.data)).toEqual(expected);
    expect(vocabulary(overSio)).toEqual(expected);
  });
});

describe("a token that runs out", () => {
  // A lone expiry is planned at its own time; after an alarm that closed an expired socket, the
  // next expiry on that hub waits a spacing (30 s). So: socket A's token runs out and the alarm
  // closes it; socket B, on the same hub, runs out a second later while the alarm waits; an
  // event published then must not reach B: the check before each send ends it instead.
  const waitUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  const endOf = (token: string) => ((decodeJwt(token).exp as number) + 30) * 1000;

  it("/v1/ws: an event published after the expiry is not sent; authentication_error, then close 4401", async () => {
    const user = unique("expiring");
    const sim = unique("simulation");
    // Same user, same hub.
    const first = track(await connect(await signExpiringToken({ sub: user })));
    expect((await first.waitClosed(5000)).code).toBe(CLOSE_CODES.authentication_failed);
    const token = await signExpiringToken({ sub: user });
    const socket = track(await connect(token));
    expect((await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim }, "s")).event).toBe(
      "subscribed",
    );
    await waitUntil(endOf(token) + 20);
    expect(socket.closed, "the alarm waits a spacing after the first socket's expiry").toBeNull();
    await ingestOk(progress(sim, 0.5));
    const error = await socket.nextEvent("error", 5000);
    expect(error.data).toMatchObject({ code: "authentication_error", details: { reason: "token_expired" } });
    expect((await socket.waitClosed()).code).toBe(CLOSE_CODES.authentication_failed);
    expect(socket.frames.filter((frame) => frame.event === "simulation_progress")).toEqual([]);
  });

  it("Socket.IO: an event published after the expiry is not sent; auth-error, then close 4401", async () => {
    // Two sessions on the same hub (the handshake picks a shard at random; the sid names it).
    const byHub = new Map<string, WebSocketSocket>();
    let pair: [WebSocketSocket, WebSocketSocket] | null = null;
    for (let i = 0; i < 20 && !pair; i++) {
      const session = track(await WebSocketSocket.open());
      const hub = session.sid.split(".").slice(0, 2).join(".");
      const other = byHub.get(hub);
      if (other) pair = [other, session];
      else byHub.set(hub, session);
    }
    if (!pair) throw new Error("no two sessions on one hub");
    const [first, socket] = pair;
    const firstUser = unique("expiring");
    await first.login(firstUser, await signExpiringToken({ sub: firstUser }));
    expect((await first.waitClosed(5000)).code).toBe(CLOSE_CODES.authentication_failed);
    const user = unique("expiring");
    const commodity = unique("oil");
    const token = await signExpiringToken({ sub: user });
    await socket.login(user, token);
    await socket.emit("subscribe-market", [commodity]);
    await socket.nextEvent("market-subscribed");
    await waitUntil(endOf(token) + 20);
    expect(socket.closed, "the alarm waits a spacing after the first session's expiry").toBeNull();
    await ingestOk(marketUpdate(commodity, 70));
    expect(await socket.nextEventData("auth-error", 5000)).toMatchObject({ code: "authentication_error" });
    expect((await socket.waitClosed()).code).toBe(CLOSE_CODES.authentication_failed);
    expect(socket.eventsReceived("market-update")).toEqual([]);
  });
});
