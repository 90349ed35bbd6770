/**
 * The y-websocket wire format (y-protocols), as pure encoders and decoders over bytes.
 *
 *   message        = varuint type, body
 *   type 0 sync    = varuint subtype, varbytes payload
 *                    subtype 0 step1: payload is a state vector
 *                    subtype 1 step2: payload is an update
 *                    subtype 2 update: payload is an update
 *   type 1 awareness = varbytes awareness-update
 *   type 2 auth    = varuint 0 (permission denied), varstring reason
 *   type 3 query-awareness (no body)
 *   awareness-update = varuint n, n × (varuint clientID, varuint clock, varstring JSON state)
 *
 * Decoding never reads past the frame and throws YjsFrameError on anything malformed.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_AUTH = 2;
export const MESSAGE_QUERY_AWARENESS = 3;

export const SYNC_STEP1 = 0;
export const SYNC_STEP2 = 1;
export const SYNC_UPDATE = 2;

export type YjsMessage =
  | { type: "sync-step1"; stateVector: Uint8Array }
  | { type: "sync-step2"; update: Uint8Array }
  | { type: "update"; update: Uint8Array }
  | { type: "awareness"; update: Uint8Array }
  | { type: "query-awareness" }
  | { type: "auth"; reason: string }
  | { type: "unknown"; messageType: number };

export class YjsFrameError extends Error {
  override name = "YjsFrameError";
}

/** Reads `len` bytes, refusing to run past the end of the frame. Returns a copy. */
function readBytes(decoder: decoding.Decoder, len: number): Uint8Array {
  if (len > decoder.arr.length - decoder.pos) throw new YjsFrameError("length runs past the end of the frame");
  const bytes = decoder.arr.slice(decoder.pos, decoder.pos + len);
  decoder.pos += len;
  return bytes;
}

function readVarBytes(decoder: decoding.Decoder): Uint8Array {
  return readBytes(decoder, readUint(decoder));
}

function readUint(decoder: decoding.Decoder): number {
  try {
    return decoding.readVarUint(decoder);
  } catch (cause) {
    throw new YjsFrameError("truncated or oversized integer", { cause });
  }
}

function readString(decoder: decoding.Decoder): string {
  const bytes = readVarBytes(decoder);
  try {
    // ignoreBOM: keep a leading U+FEFF, as lib0's readVarString does.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new YjsFrameError("string is not UTF-8", { cause });
  }
}

function expectEnd(decoder: decoding.Decoder): void {
  if (decoder.pos !== decoder.arr.length) throw new YjsFrameError("trailing bytes after the message");
}

export function decodeYjsMessage(frame: Uint8Array): YjsMessage {
  const decoder = decoding.createDecoder(frame);
  const type = readUint(decoder);
  let message: YjsMessage;
  switch (type) {
    case MESSAGE_SYNC: {
      const subtype = readUint(decoder);
      const payload = readVarBytes(decoder);
      if (subtype === SYNC_STEP1) message = { type: "sync-step1", stateVector: payload };
      else if (subtype === SYNC_STEP2) message = { type: "sync-step2", update: payload };
      else if (subtype === SYNC_UPDATE) message = { type: "update", update: payload };
      else throw new YjsFrameError(`unknown sync message ${subtype}`);
      break;
    }
    case MESSAGE_AWARENESS:
      message = { type: "awareness", update: readVarBytes(decoder) };
      break;
    case MESSAGE_QUERY_AWARENESS:
      message = { type: "query-awareness" };
      break;
    case MESSAGE_AUTH: {
      readUint(decoder);
      message = { type: "auth", reason: readString(decoder) };
      break;
    }
    default:
      // A message type from a newer y-websocket: the caller ignores it.
      return { type: "unknown", messageType: type };
  }
  expectEnd(decoder);
  return message;
}

function frame(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  write(encoder);
  return encoding.toUint8Array(encoder);
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, SYNC_STEP1);
    encoding.writeVarUint8Array(e, stateVector);
  });

export const encodeSyncStep2 = (update: Uint8Array): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, SYNC_STEP2);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeUpdate = (update: Uint8Array): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, SYNC_UPDATE);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeAwareness = (update: Uint8Array): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeQueryAwareness = (): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_QUERY_AWARENESS);
  });

export const encodePermissionDenied = (reason: string): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_AUTH);
    encoding.writeVarUint(e, 0);
    encoding.writeVarString(e, reason);
  });

// ---------------------------------------------------------------------------------------------
// Awareness updates

export interface AwarenessEntry {
  clientID: number;
  clock: number;
  /** The state as JSON text; `"null"` removes the client. */
  state: string;
  /** The state's size in UTF-8 bytes, as it arrived (set by the decoder). */
  bytes?: number;
}

/**
 * The entries of an awareness update. A state over `maxStateBytes` is skipped unread (neither
 * decoded nor parsed: a flood of huge states must not cost copies of each before it is dropped).
 */
export function decodeAwarenessUpdate(update: Uint8Array, maxStateBytes = Number.POSITIVE_INFINITY): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update);
  const count = readUint(decoder);
  const entries: AwarenessEntry[] = [];
  for (let i = 0; i < count; i++) {
    const clientID = readUint(decoder);
    const clock = readUint(decoder);
    const bytes = readUint(decoder);
    if (bytes > maxStateBytes) {
      if (bytes > decoder.arr.length - decoder.pos) throw new YjsFrameError("length runs past the end of the frame");
      decoder.pos += bytes;
      continue;
    }
    decoder.pos -= varUintLength(bytes);
    const state = readString(decoder);
    try {
      JSON.parse(state);
    } catch (cause) {
      throw new YjsFrameError("awareness state is not JSON", { cause });
    }
    entries.push({ clientID, clock, state, bytes });
  }
  expectEnd(decoder);
  return entries;
}

/** How many bytes lib0 writes for `value` as a varuint. */
function varUintLength(value: number): number {
  let length = 1;
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) length += 1;
  return length;
}

export function encodeAwarenessUpdate(entries: AwarenessEntry[]): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, entries.length);
    for (const { clientID, clock, state } of entries) {
      encoding.writeVarUint(e, clientID);
      encoding.writeVarUint(e, clock);
      encoding.writeVarString(e, state);
    }
  });
}
