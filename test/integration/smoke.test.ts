import { describe, expect, it } from "vitest";
import { connect, ingestOk, progress, unique } from "../helpers/client";
import { signToken } from "../helpers/tokens";

describe("smoke", () => {
  it("delivers an ingested simulation_progress to a subscriber", async () => {
    const sim = unique("sim");
    const socket = await connect(await signToken());
    const reply = await socket.request("subscribe", { channel: "simulation_updates", simulation_id: sim }, "msg_1");
    expect(reply).toMatchObject({
      event: "subscribed",
      id: "msg_1",
      data: { channel: "simulation_updates", simulation_id: sim, seq: 0 },
    });
    const { results } = await ingestOk(progress(sim, 45));
    expect(results).toEqual([{ event: "simulation_progress", channel: "simulation_updates", key: sim, seq: 1 }]);
    const event = await socket.nextEvent("simulation_progress");
    expect(event).toMatchObject({ seq: 1, data: { simulation_id: sim, progress: 45 } });
    socket.close();
  });
});
