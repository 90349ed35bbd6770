import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CLOCK_TOLERANCE_SECONDS } from "../../src/auth/principal";
import { hubPlacement } from "../../src/hub/shard";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../../src/protocol/limits";
import { connect, unique } from "../helpers/client";
import { signExpiringToken, signToken } from "../helpers/tokens";

const upgrade = (query: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(`http://edge.test/v1/ws${query}`, { headers: { Upgrade: "websocket", ...headers } });

describe("WebSocket authentication", () => {
  it("refuses a plain GET without Upgrade with 426", async () => {
    const response = await exports.default.fetch(`http://edge.test/v1/ws?token=${await signToken()}`);
    expect(response.status).toBe(426);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_message" } });
  });

  it.each([
    ["no token", "", "token_missing"],
    ["a malformed token", "?token=not.a.jwt", "token_malformed"],
  ])("with %s: upgrades, sends one authentication_error and closes 4401", async (_, query, reason) => {
    const response = await upgrade(query);
    expect(response.status).toBe(101);
    const ws = response.webSocket as WebSocket;
    const frames: unknown[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (event) => resolve(event.code)));
    ws.addEventListener("message", (event) => {
      frames.push(JSON.parse(event.data as string));
    });
    ws.accept();
    expect(await closed).toBe(4401);
    expect(frames).toEqual([
      { event: "error", data: { code: "authentication_error", message: expect.any(String), details: { reason } } },
    ]);
  });

  it("refuses a token signed with another secret, an expired one and one without sub", async () => {
    for (const [token, reason] of [
      [await signToken({}, "another-secret-entirely-0123456789"), "signature_invalid"],
      [await signToken({ ttl: -(CLOCK_TOLERANCE_SECONDS + 60) }), "token_expired"],
      [await signToken({ sub: "" }), "claims_invalid"],
    ] as const) {
      const socket = await connect(token);
      const error = await socket.nextEvent("error");
      expect(error.data).toMatchObject({ code: "authentication_error", details: { reason } });
      expect((await socket.waitClosed()).code).toBe(4401);
    }
  });

  it("accepts the token from Authorization: Bearer", async () => {
    const response = await upgrade("", { Authorization: `Bearer ${await signToken()}` });
    expect(response.status).toBe(101);
    const ws = response.webSocket as WebSocket;
    ws.accept();
    const pong = new Promise<unknown>((resolve) =>
      ws.addEventListener("message", (event) => resolve(JSON.parse(event.data as string))),
    );
    ws.send(JSON.stringify({ event: "ping", data: { timestamp: 1 }, id: "p" }));
    expect(await pong).toMatchObject({ event: "pong", id: "p" });
    ws.close();
  });

  it("uses the query token when an Authorization header is not a Bearer token", async () => {
    const response = await upgrade(`?token=${await signToken()}`, { Authorization: "Basic dXNlcjpwYXNz" });
    const ws = response.webSocket as WebSocket;
    ws.accept();
    const first = new Promise<unknown>((resolve) =>
      ws.addEventListener("message", (event) => resolve(JSON.parse(event.data as string))),
    );
    ws.send(JSON.stringify({ event: "ping", data: {}, id: "p" }));
    expect(await first).toMatchObject({ event: "pong", id: "p" });
    ws.close();
  });

  it("enforces ALLOWED_ORIGINS on upgrades that carry an Origin", async () => {
    const token = await signToken();
    expect((await upgrade(`?token=${token}`, { Origin: "https://evil.example.com" })).status).toBe(403);
    const allowed = await upgrade(`?token=${token}`, { Origin: "https://app.example.com" });
    expect(allowed.status).toBe(101);
    allowed.webSocket?.accept();
    allowed.webSocket?.close();
  });

  it("ends a socket whose token expires: authentication_error, then close 4401", async () => {
    const sub = unique("expiring");
    // Valid at connect thanks to the clock tolerance, and runs out about a second later.
    const socket = await connect(await signExpiringToken({ sub }));
    expect((await socket.request("ping", {})).event).toBe("pong");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // The hub's alarm fires by itself at the expiry; run it now in case it has not yet.
    await runDurableObjectAlarm(env.HUB.getByName(hubPlacement(sub, undefined, 4).name));
    const error = await socket.nextEvent("error");
    expect(error.data).toMatchObject({ code: "authentication_error", details: { reason: "token_expired" } });
    expect((await socket.waitClosed()).code).toBe(4401);
  });

  it("keeps a socket open past its first token's expiry after refresh_token", async () => {
    const sub = unique("refresh");
    const socket = await connect(await signExpiringToken({ sub }));
    const refreshed = await socket.request("refresh_token", { token: await signToken({ sub, ttl: 3600 }) }, "r1");
    expect(refreshed).toMatchObject({ event: "token_refreshed", id: "r1", data: { expires_at: expect.any(String) } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await runDurableObjectAlarm(env.HUB.getByName(hubPlacement(sub, undefined, 4).name));
    expect((await socket.request("ping", {}, "after")).event).toBe("pong");
    expect(socket.closed).toBeNull();
    socket.close();
  });

  it("refuses refresh_token for another user or with a bad token, and keeps the socket", async () => {
    const socket = await connect(await signToken({ sub: "alice" }));
    const other = await socket.request("refresh_token", { token: await signToken({ sub: "mallory" }) }, "r1");
    expect(other).toMatchObject({
      event: "error",
      id: "r1",
      data: { code: "authentication_error", details: { reason: "subject_mismatch" } },
    });
    const bad = await socket.request("refresh_token", { token: "garbage" }, "r2");
    expect(bad).toMatchObject({ event: "error", id: "r2", data: { code: "authentication_error" } });
    const missing = await socket.request("refresh_token", {}, "r3");
    expect(missing).toMatchObject({ event: "error", id: "r3", data: { code: "invalid_message" } });
    expect((await socket.request("ping", {})).event).toBe("pong");
    socket.close();
  });

  // Regression: refresh_token with exp 1e13 answered server_error (its expires_at is no date)
  // after the socket had already adopted the token, narrower resources and all.
  it("refuses refresh_token with an absurd exp as authentication_error and keeps the old token", async () => {
    const sub = unique("absurd");
    const socket = await connect(await signToken({ sub }));
    for (const [i, ttl] of [1e13, MAX_TOKEN_LIFETIME_SECONDS + 3600].entries()) {
      const absurd = await signToken({ sub, ttl, resources: ["simulation:nothing_else"] });
      const refused = await socket.request("refresh_token", { token: absurd }, `r${i}`);
      expect(refused).toMatchObject({
        event: "error",
        id: `r${i}`,
        data: { code: "authentication_error", details: { reason: "claims_invalid" } },
      });
    }
    // Not adopted: the old token (no resources) still reaches any simulation.
    const sim = unique("sim");
    const subscribed = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim }, "s");
    expect(subscribed.event).toBe("subscribed");
    socket.close();
  });

  it("refuses a connect token with an absurd exp: authentication_error, close 4401", async () => {
    const socket = await connect(await signToken({ ttl: 1e13 }));
    const error = await socket.nextEvent("error");
    expect(error.data).toMatchObject({ code: "authentication_error", details: { reason: "claims_invalid" } });
    expect((await socket.waitClosed()).code).toBe(4401);
  });

  it("a refreshed token with narrower resources ends the subscriptions it no longer reaches", async () => {
    const sim = unique("sim");
    const socket = await connect(await signToken({ sub: "narrow", resources: ["simulation:*"] }));
    await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim });
    const narrower = await signToken({ sub: "narrow", resources: ["simulation:other"] });
    await socket.request("refresh_token", { token: narrower });
    const ended = await socket.nextEvent("unsubscribed");
    expect(ended.data).toEqual({ channel: "simulation_updates", simulation_id: sim, reason: "authorization_error" });
    socket.close();
  });
});
