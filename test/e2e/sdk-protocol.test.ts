/**
 * The client SDK against a scripted server (the `ws` package in this process), for what the real
 * service promises never to do or cannot be made to do on demand: a jump in `seq` (the client
 * must resubscribe with `since_seq` itself), a repeated event, an unsolicited resync
 * (`subscribed` without `id`, `recovered: false`), and a request that gets no reply.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket as ServerSocket, WebSocketServer } from "ws";
import { createClient, type EquihomeClient } from "../../client/src/index";
import { waitFor } from "./helpers/wait";

interface ClientFrame {
  event: string;
  data: Record<string, unknown>;
  id: string;
}

let wss: WebSocketServer | undefined;
let client: EquihomeClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  const server = wss;
  wss = undefined;
  if (server) {
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server that records every client frame; the test answers them through `socket`. */
async function scriptedServer() {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss = server;
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const state = {
    frames: [] as ClientFrame[],
    urls: [] as string[],
    socket: undefined as ServerSocket | undefined,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`,
    send(frame: Record<string, unknown>) {
      state.socket?.send(JSON.stringify(frame));
    },
    request(event: string, from = 0): Promise<ClientFrame> {
      return waitFor(`a ${event} request`, () => state.frames.slice(from).find((frame) => frame.event === event));
    },
  };
  server.on("connection", (socket, request) => {
    state.socket = socket;
    state.urls.push(request.url ?? "");
    socket.on("message", (raw) => state.frames.push(JSON.parse(String(raw)) as ClientFrame));
  });
  return state;
}

const progress = (seq: number) => ({
  event: "simulation_progress",
  data: { simulation_id: "sim_1", progress: seq, status: "running" },
  seq,
});

describe("client SDK against a scripted server", () => {
  it("resubscribes with since_seq on a seq jump, drops duplicates, and signals a resync as a reload", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c" });
    const seen: number[] = [];
    const reloads: number[] = [];
    client.on("simulation_progress", (_data, meta) => seen.push(meta.seq));
    const subscribing = client.subscribe({ channel: "simulation_updates", simulation_id: "sim_1" });
    const first = await server.request("subscribe");
    expect(server.urls[0]).toBe("/v1/ws?token=a.b.c");
    expect(first.data).toEqual({ channel: "simulation_updates", simulation_id: "sim_1" });
    server.send({
      event: "subscribed",
      data: { channel: "simulation_updates", simulation_id: "sim_1", seq: 0 },
      id: first.id,
    });
    const subscription = await subscribing;
    subscription.on("reload", (info) => reloads.push(info.seq));

    server.send(progress(1));
    server.send(progress(2));
    server.send(progress(4)); // 3 is missing
    const resubscribe = await server.request("subscribe", 1);
    expect(resubscribe.data).toEqual({ channel: "simulation_updates", simulation_id: "sim_1", since_seq: 2 });
    server.send(progress(5)); // still from before the resubscription: dropped, the replay brings it
    server.send({
      event: "subscribed",
      data: { channel: "simulation_updates", simulation_id: "sim_1", seq: 5, recovered: true },
      id: resubscribe.id,
    });
    for (const seq of [3, 4, 5, 4, 5, 6]) server.send(progress(seq));
    await waitFor(
      "events up to 6",
      () => (seen.includes(6) ? true : undefined),
      5_000,
      () => ` seen ${seen}`,
    );
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(reloads).toEqual([]);

    // The server's resync: no id, recovered false, then the latest state and live events.
    server.send({
      event: "subscribed",
      data: { channel: "simulation_updates", simulation_id: "sim_1", seq: 100, recovered: false },
    });
    server.send(progress(100));
    server.send(progress(101));
    await waitFor(
      "events after the resync",
      () => (seen.includes(101) ? true : undefined),
      5_000,
      () => ` seen ${seen}`,
    );
    expect(reloads).toEqual([100]);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 100, 101]);
    expect(subscription.lastSeq).toBe(101);
    expect(server.frames.filter((frame) => frame.event === "subscribe")).toHaveLength(2);
  });

  it("rejects a request without a reply with a timeout, and a refused one with the server's error", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c", requestTimeoutMs: 300 });
    const ping = client.ping().then(
      () => undefined,
      (error: unknown) => error,
    );
    await server.request("ping");
    expect(await ping).toMatchObject({ name: "EquihomeError", code: "timeout" });

    const session = client.startEditing({ resource_type: "fund", resource_id: "f1" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const subscribe = await server.request("subscribe");
    server.send({
      event: "error",
      data: { code: "authorization_error", message: "Insufficient permissions", details: { resource: "fund:f1" } },
      id: subscribe.id,
    });
    expect(await session).toMatchObject({
      code: "authorization_error",
      message: "Insufficient permissions",
      details: { resource: "fund:f1" },
    });
  });

  it("forgets a subscription that timed out, so that subscribing again asks the server again", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c", requestTimeoutMs: 300 });
    const params = { channel: "fund_updates", fund_id: "f1" } as const;
    const first = await client.subscribe(params).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(first).toMatchObject({ code: "timeout" });
    expect(server.frames.filter((frame) => frame.event === "subscribe")).toHaveLength(1);

    const second = client.subscribe(params);
    const request = await server.request("subscribe", 1);
    server.send({ event: "subscribed", data: { channel: "fund_updates", fund_id: "f1", seq: 3 }, id: request.id });
    expect((await second).lastSeq).toBe(3);
  });

  it("shares one server subscription between handles; a handle that leaves stops hearing it", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c" });
    const params = { channel: "system_notifications" } as const;
    const firstSubscribing = client.subscribe(params);
    const request = await server.request("subscribe");
    server.send({ event: "subscribed", data: { channel: "system_notifications", seq: 0 }, id: request.id });
    const first = await firstSubscribing;
    const second = await client.subscribe(params);
    const heard = { first: [] as number[], second: [] as number[] };
    first.on("notification", (_data, meta) => heard.first.push(meta.seq));
    second.on("notification", (_data, meta) => heard.second.push(meta.seq));
    const note = (seq: number) => ({
      event: "notification",
      data: { type: "info", message: `n${seq}`, timestamp: "2026-01-01T00:00:00Z" },
      seq,
    });
    server.send(note(1));
    await waitFor("both handles hear 1", () => (heard.first.length && heard.second.length ? true : undefined));
    await first.unsubscribe(); // the other handle still holds the channel: nothing is sent
    server.send(note(2));
    await waitFor("the remaining handle hears 2", () => (heard.second.includes(2) ? true : undefined));
    expect(heard).toEqual({ first: [1], second: [1, 2] });
    expect(server.frames.map((frame) => frame.event)).toEqual(["subscribe"]);

    const leaving = second.unsubscribe();
    const unsubscribe = await server.request("unsubscribe");
    expect(unsubscribe.data).toEqual({ channel: "system_notifications" });
    server.send({ event: "unsubscribed", data: { channel: "system_notifications" }, id: unsubscribe.id });
    await leaving;
  });

  it("subscribing again with other zones waits for the server; a refusal keeps the subscription as it was", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c" });
    const lights = (seq: number) => ({
      event: "traffic_light_update",
      data: { timestamp: "2026-01-01T00:00:00Z", zone_updates: {} },
      seq,
    });
    const firstSubscribing = client.subscribe({ channel: "traffic_light_updates", zones: ["red"] });
    const first = await server.request("subscribe");
    server.send({
      event: "subscribed",
      data: { channel: "traffic_light_updates", seq: 0, zones: ["red"] },
      id: first.id,
    });
    const subscription = await firstSubscribing;
    const seen: number[] = [];
    subscription.on("traffic_light_update", (_data, meta) => seen.push(meta.seq));

    const refused = client.subscribe({ channel: "traffic_light_updates", zones: ["Bad"] }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const bad = await server.request("subscribe", 1);
    expect(bad.data).toEqual({ channel: "traffic_light_updates", zones: ["Bad"], since_seq: 0 });
    server.send({
      event: "error",
      data: {
        code: "invalid_subscription",
        message: "Invalid subscription parameters",
        details: { issue: "Invalid zones" },
      },
      id: bad.id,
    });
    expect(await refused).toMatchObject({ code: "invalid_subscription" });
    server.send(lights(1));
    await waitFor("the kept subscription's event", () => (seen.includes(1) ? true : undefined));

    let settled = false;
    const changing = client.subscribe({ channel: "traffic_light_updates", zones: ["green"] }).then((handle) => {
      settled = true;
      return handle;
    });
    const change = await server.request("subscribe", 2);
    expect(change.data).toEqual({ channel: "traffic_light_updates", zones: ["green"], since_seq: 1 });
    // A round trip through the server, with no reply to the subscribe yet.
    const pinging = client.ping();
    const ping = await server.request("ping");
    server.send({ event: "pong", data: { timestamp: 1 }, id: ping.id });
    await pinging;
    expect(settled).toBe(false);
    server.send({
      event: "subscribed",
      data: { channel: "traffic_light_updates", seq: 1, zones: ["green"], recovered: true },
      id: change.id,
    });
    await changing;
    expect(settled).toBe(true);
  });

  it("sends a request again when the server dropped it for rate (it was never handled)", async () => {
    const server = await scriptedServer();
    client = createClient({ url: server.url, token: "a.b.c" });
    const pinging = client.ping();
    const first = await server.request("ping");
    server.send({
      event: "error",
      data: {
        code: "invalid_message",
        message: "Message rate limit exceeded; message dropped",
        details: { issue: "rate_limited" },
      },
      id: first.id,
    });
    const again = await server.request("ping", server.frames.indexOf(first) + 1);
    expect(again.id).toBe(first.id);
    server.send({ event: "pong", data: { timestamp: 42 }, id: again.id });
    expect(await pinging).toBe(42);
  });
});
