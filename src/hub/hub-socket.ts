/** The sockets a hub holds: Equihome JSON sockets and Socket.IO (Engine.IO) sessions. */
import type { EngineSession } from "./engine-io";
import type { JsonSocket } from "./equihome-protocol";

export type HubSocket = JsonSocket | EngineSession;
