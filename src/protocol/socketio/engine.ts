/**
 * Engine.IO v4, the transport under Socket.IO: packets and the polling payload. Pure.
 *
 *   packet  = type-digit [ data ]          text; 0 open, 1 close, 2 ping, 3 pong, 4 message,
 *                                           5 upgrade, 6 noop
 *           | "b" base64                   a binary message, over polling only
 *   payload = packet *( %x1E packet )      several packets in one polling request or response
 */

export const ENGINE_PACKET = {
  open: "0",
  close: "1",
  ping: "2",
  pong: "3",
  message: "4",
  upgrade: "5",
  noop: "6",
} as const;
export type EnginePacketType = keyof typeof ENGINE_PACKET;

export const RECORD_SEPARATOR = "\u001e";

export type EnginePacket = { type: EnginePacketType; data: string } | { type: "binary"; data: string };

const TYPES = Object.fromEntries(Object.entries(ENGINE_PACKET).map(([name, digit]) => [digit, name])) as Record<
  string,
  EnginePacketType
>;

export class EngineError extends Error {
  override name = "EngineError";
}

/** Decodes one text packet; throws EngineError for an empty or unknown one. */
export function decodeEnginePacket(text: string): EnginePacket {
  const head = text.charAt(0);
  if (head === "b") return { type: "binary", data: text.slice(1) };
  const type = TYPES[head];
  if (type === undefined) throw new EngineError(text.length === 0 ? "empty packet" : `unknown packet type "${head}"`);
  return { type, data: text.slice(1) };
}

export function encodeEnginePacket(type: EnginePacketType, data = ""): string {
  return ENGINE_PACKET[type] + data;
}

/** Splits a polling payload into its packets. */
export function decodePayload(body: string): EnginePacket[] {
  if (body.length === 0) throw new EngineError("empty payload");
  return body.split(RECORD_SEPARATOR).map(decodeEnginePacket);
}

export function encodePayload(packets: string[]): string {
  return packets.join(RECORD_SEPARATOR);
}

/** The open packet's data: what the client learns about its session. */
export interface Handshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export function encodeOpen(handshake: Handshake): string {
  return encodeEnginePacket("open", JSON.stringify(handshake));
}

/** Engine.IO's HTTP error bodies: `{"code": n, "message": "..."}` with status 400 (403 for code 4). */
export const ENGINE_ERRORS = {
  transport_unknown: { code: 0, message: "Transport unknown" },
  session_id_unknown: { code: 1, message: "Session ID unknown" },
  bad_handshake_method: { code: 2, message: "Bad handshake method" },
  bad_request: { code: 3, message: "Bad request" },
  forbidden: { code: 4, message: "Forbidden" },
  unsupported_protocol_version: { code: 5, message: "Unsupported protocol version" },
} as const;

export type EngineErrorName = keyof typeof ENGINE_ERRORS;
