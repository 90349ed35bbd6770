/**
 * Socket.IO v5 packets, carried in Engine.IO message packets. Pure.
 *
 *   packet = type-digit [ attachments "-" ] [ namespace "," ] [ ack-id ] [ JSON ]
 *   type   = 0 CONNECT | 1 DISCONNECT | 2 EVENT | 3 ACK | 4 CONNECT_ERROR | 5 BINARY_EVENT | 6 BINARY_ACK
 *
 * CONNECT carries an optional object (the client's `auth`), EVENT an array whose first element
 * is the event name, ACK an array of arguments, CONNECT_ERROR `{message, data?}`.
 */

import type { TopicEvent } from "../topics";
import { encodeEnginePacket } from "./engine";

export const SIO = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;

export type SioPacketType = (typeof SIO)[keyof typeof SIO];

export interface SioPacket {
  type: SioPacketType;
  nsp: string;
  id?: number;
  data?: unknown;
  attachments?: number;
}

export class SioParseError extends Error {
  override name = "SioParseError";
}

const MAX_ACK_ID = 2 ** 31 - 1;

export function decodeSioPacket(text: string): SioPacket {
  let i = 0;
  const type = Number(text.charAt(0));
  if (!Number.isInteger(type) || type < 0 || type > 6 || text.length === 0) {
    throw new SioParseError(`unknown packet type "${text.charAt(0)}"`);
  }
  i += 1;
  const packet: SioPacket = { type: type as SioPacketType, nsp: "/" };
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) {
    const dash = text.indexOf("-", i);
    const count = Number(text.slice(i, dash));
    if (dash < 0 || !/^\d+$/.test(text.slice(i, dash)) || !Number.isSafeInteger(count)) {
      throw new SioParseError("bad attachment count");
    }
    packet.attachments = count;
    i = dash + 1;
  }
  if (text.charAt(i) === "/") {
    const comma = text.indexOf(",", i);
    const end = comma < 0 ? text.length : comma;
    packet.nsp = text.slice(i, end);
    i = comma < 0 ? text.length : comma + 1;
  }
  let digits = "";
  while (i < text.length && /[0-9]/.test(text.charAt(i))) digits += text.charAt(i++);
  if (digits.length > 0) {
    const id = Number(digits);
    if (!Number.isSafeInteger(id) || id > MAX_ACK_ID) throw new SioParseError("bad ack id");
    packet.id = id;
  }
  if (i < text.length) {
    try {
      packet.data = JSON.parse(text.slice(i));
    } catch {
      throw new SioParseError("payload is not JSON");
    }
  }
  validate(packet);
  return packet;
}

function validate(packet: SioPacket): void {
  const { type, data } = packet;
  const isObject = typeof data === "object" && data !== null && !Array.isArray(data);
  switch (type) {
    case SIO.CONNECT:
      if (data !== undefined && !isObject) throw new SioParseError("CONNECT payload must be an object");
      return;
    case SIO.DISCONNECT:
      if (data !== undefined) throw new SioParseError("DISCONNECT has no payload");
      return;
    case SIO.EVENT:
    case SIO.BINARY_EVENT:
      if (!Array.isArray(data) || data.length === 0 || (typeof data[0] !== "string" && typeof data[0] !== "number")) {
        throw new SioParseError("EVENT payload must be [name, ...args]");
      }
      return;
    case SIO.ACK:
    case SIO.BINARY_ACK:
      if (!Array.isArray(data) || packet.id === undefined) throw new SioParseError("ACK needs an id and an array");
      return;
    case SIO.CONNECT_ERROR:
      return;
  }
}

export function encodeSioPacket(packet: SioPacket): string {
  let text = String(packet.type);
  if (packet.type === SIO.BINARY_EVENT || packet.type === SIO.BINARY_ACK) text += `${packet.attachments ?? 0}-`;
  if (packet.nsp !== "/") text += `${packet.nsp},`;
  if (packet.id !== undefined) text += String(packet.id);
  if (packet.data !== undefined) text += JSON.stringify(packet.data);
  return text;
}

/** `42["name",...args]`: an event as an Engine.IO message packet's data. */
export function encodeEvent(name: string, args: unknown[], id?: number): string {
  return encodeSioPacket({ type: SIO.EVENT, nsp: "/", data: [name, ...args], ...(id === undefined ? {} : { id }) });
}

export function encodeAck(id: number, args: unknown[]): string {
  return encodeSioPacket({ type: SIO.ACK, nsp: "/", id, data: args });
}

/**
 * A topic event as an Engine.IO message carrying a Socket.IO EVENT, without its closing `]`:
 * `42["name",<data>`. The data is JSON text already and is spliced in as is. The hub encodes
 * this once per event and closes it per session with `]`, or `,"<offset>"]` for recovery.
 * Byte for byte `encodeEnginePacket("message", encodeEvent(name, [data]))` without its last `]`.
 */
export function encodeTopicEventOpen(event: Pick<TopicEvent, "event" | "data">): string {
  return encodeEnginePacket("message", `${SIO.EVENT}[${JSON.stringify(event.event)},${event.data}`);
}
