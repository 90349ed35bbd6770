/**
 * The one inbound pipeline of a socket, whatever its protocol: rate as a frame arrives, then in
 * arrival order size, decode, token expiry, run; and a refusal, in the protocol's own encoding,
 * for whatever fails. Each protocol supplies only its wire (an {@link InboundWire}): how a frame
 * decodes into a command, how a refusal and an expiry are told to the client, how the socket
 * closes.
 */

import { CLOSE_CODES, ProtocolError, toProtocolError } from "../protocol/errors";
import { exceedsBytes } from "../protocol/limits";
import type { MessageRateLimiter } from "./rate-limiter";

/** What the pipeline keeps per socket. */
export interface InboundSocket {
  rate: MessageRateLimiter;
  /**
   * The socket's frames are handled one after another, so replies come in request order and an
   * `unsubscribe` never overtakes the `subscribe` before it.
   */
  inbox: Promise<void>;
  /**
   * Told that its token expired: set by whoever tells it first (this pipeline, or the socket
   * host's expiry sweep and send checks), so it is told once.
   */
  expired?: boolean;
}

/**
 * A frame that could not be decoded: the refusal to send (null: none, the close says it all),
 * and whether the socket closes after it.
 */
export class Malformed {
  constructor(
    readonly error: ProtocolError | null,
    readonly close: { code: number; reason: string } | null = null,
  ) {}
}

export interface InboundWire<S extends InboundSocket, F, C> {
  /** Largest frame, text in UTF-8 bytes or binary; null when the transport bounds frames itself. */
  readonly maxFrameBytes: number | null;
  /** When the socket's token stops being valid (ms); +Infinity while it has none. */
  expiresAt(socket: S): number;
  decode(socket: S, frame: F): C | Malformed;
  /**
   * Whether the command must be refused once the token expired. Re-authenticating on the same
   * connection (Socket.IO's `authenticate`, or its CONNECT) is the one thing an expired one may do.
   */
  needsToken(command: C): boolean;
  run(socket: S, command: C): Promise<void>;
  /** Tells the client why its frame (decoded into `command`, or not) was refused. */
  refuse(socket: S, error: ProtocolError, command: C | null, frame: F): void;
  /** The token ran out: tell the client, then close with `authentication_failed`. */
  expire(socket: S): void;
  close(socket: S, code: number, reason: string): void;
}

export const RATE_LIMITED = new ProtocolError("invalid_message", "Message rate limit exceeded; message dropped", {
  details: { issue: "rate_limited" },
});

/**
 * Takes one frame: checks the socket's rate as it arrives, then queues the frame behind the
 * socket's earlier ones, so even a refusal of its size comes after their replies; resolves when
 * it has been handled.
 */
export function receive<S extends InboundSocket, F extends string | ArrayBuffer, C>(
  wire: InboundWire<S, F, C>,
  socket: S,
  frame: F,
  now: number,
): Promise<void> {
  const verdict = socket.rate.check(now);
  if (verdict !== "accept") {
    if (verdict === "close") wire.close(socket, CLOSE_CODES.policy_violation, "message rate limit exceeded");
    else if (verdict === "refuse") wire.refuse(socket, RATE_LIMITED, null, frame);
    return Promise.resolve();
  }
  socket.inbox = socket.inbox
    .then(() => handle(wire, socket, frame))
    .catch((error: unknown) => console.error("unhandled failure in an inbound frame", error));
  return socket.inbox;
}

async function handle<S extends InboundSocket, F extends string | ArrayBuffer, C>(
  wire: InboundWire<S, F, C>,
  socket: S,
  frame: F,
): Promise<void> {
  if (wire.maxFrameBytes !== null && tooLarge(frame, wire.maxFrameBytes)) {
    const refusal = new ProtocolError("invalid_message", `Frame is over ${wire.maxFrameBytes} bytes`, {
      details: { issue: "frame_too_large", limit: wire.maxFrameBytes },
    });
    wire.refuse(socket, refusal, null, frame);
    wire.close(socket, CLOSE_CODES.message_too_big, "frame too large");
    return;
  }
  const command = wire.decode(socket, frame);
  if (command instanceof Malformed) {
    if (command.error) wire.refuse(socket, command.error, null, frame);
    if (command.close) wire.close(socket, command.close.code, command.close.reason);
    return;
  }
  if (wire.needsToken(command) && wire.expiresAt(socket) <= Date.now()) {
    expireOnce(socket, () => wire.expire(socket));
    return;
  }
  try {
    await wire.run(socket, command);
  } catch (error) {
    wire.refuse(socket, asRefusal(error, "a command failed"), command, frame);
  }
}

/** Tells a socket its token expired, unless it was told already. */
export function expireOnce(socket: InboundSocket, tell: () => void): void {
  if (socket.expired) return;
  socket.expired = true;
  tell();
}

/** Text is measured in UTF-8 bytes, binary (y-websocket's frames) as it is. */
function tooLarge(frame: string | ArrayBuffer, maxBytes: number): boolean {
  return typeof frame === "string" ? exceedsBytes(frame, maxBytes) : frame.byteLength > maxBytes;
}

/**
 * What a failure is told to a client: a ProtocolError as it is, anything else (a bug, a failed
 * call to another object) as `server_error` ({@link toProtocolError}, as over HTTP), logged here
 * with `context`. The one place an unexpected error becomes `server_error` on a socket.
 */
export function asRefusal(error: unknown, context: string): ProtocolError {
  if (!(error instanceof ProtocolError)) console.error(`${context}: server_error`, error);
  return toProtocolError(error);
}
