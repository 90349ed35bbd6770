/**
 * Engine.IO as a transport on its own: a fake host above it (no hub, no Socket.IO), polling
 * sessions driven through `fetch`, and the heartbeat.
 */
import { describe, expect, it, vi } from "vitest";
import { EngineIo, type EngineSession, PING_TIMEOUT_MS } from "../../../../src/hub/socketio/engine-io";

const RS = "\u001e";
const url = (sid?: string) =>
  `http://edge.test/socket.io/?EIO=4&transport=polling${sid === undefined ? "" : `&sid=${encodeURIComponent(sid)}`}`;

function engineWithFakeHost() {
  const events: string[] = [];
  const sessions: EngineSession[] = [];
  let next = 0;
  const engine = new EngineIo(
    {
      opened: (session) => {
        sessions.push(session);
        events.push(`opened ${session.sid}`);
      },
      acceptWebSocket: () => events.push("accept"),
      upgraded: () => events.push("upgraded"),
      closed: (session) => events.push(`closed ${session.sid}`),
      message: (session, data) => events.push(`message ${session.sid} ${data}`),
    },
    () => `local.0.session${String(++next).padStart(12, "0")}`,
  );
  return { engine, events, sessions };
}

async function open(engine: EngineIo): Promise<string> {
  const response = await engine.fetch(new Request(url()));
  const body = await response.text();
  expect(body.startsWith("0{")).toBe(true);
  return (JSON.parse(body.slice(1)) as { sid: string }).sid;
}

describe("Engine.IO on its own", () => {
  it("opens a polling session, hands message packets up, and carries packets down on the next poll", async () => {
    const { engine, events, sessions } = engineWithFakeHost();
    const sid = await open(engine);
    expect(events).toEqual([`opened ${sid}`]);
    const post = await engine.fetch(new Request(url(sid), { method: "POST", body: `4hello${RS}4world` }));
    expect(await post.text()).toBe("ok");
    expect(events.slice(1)).toEqual([`message ${sid} hello`, `message ${sid} world`]);
    const [session] = sessions;
    if (!session) throw new Error("no session");
    engine.send(session, "4down");
    engine.send(session, "4again");
    expect(await (await engine.fetch(new Request(url(sid)))).text()).toBe(`4down${RS}4again`);
  });

  it("closes a session that did not answer its ping in time; one that did stays", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const start = Date.now();
      const { engine, events, sessions } = engineWithFakeHost();
      const [late, prompt] = [await open(engine), await open(engine)];
      vi.setSystemTime(start + 1000);
      engine.heartbeat(Date.now(), () => null);
      vi.setSystemTime(start + 2000);
      await engine.fetch(new Request(url(prompt), { method: "POST", body: "3" }));
      vi.setSystemTime(start + 1000 + PING_TIMEOUT_MS);
      engine.heartbeat(Date.now(), () => null);
      expect(events).toContain(`closed ${late}`);
      expect(events).not.toContain(`closed ${prompt}`);
      expect(engine.size).toBe(1);
      expect(sessions.find((session) => session.sid === late)?.closed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("answers an unknown session id with Engine.IO's own error", async () => {
    const { engine } = engineWithFakeHost();
    const response = await engine.fetch(new Request(url("local.0.nosuchsession0000")));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ code: 1, message: "Session ID unknown" });
  });
});
