import type { ErrorDetailsData, ReplyData } from "../../src/protocol/equihome/replies";

/**
 * The codes an {@link EquihomeError} carries: the server's (docs/PROTOCOL.md "Errors"), and three
 * of the client's own: `timeout` (no reply within the request's timeout), `connection_lost` (the
 * socket closed before the reply; the request may or may not have been carried out) and `closed`
 * (the client was closed, or stopped reconnecting).
 */
export type EquihomeErrorCode = ReplyData<"error">["code"] | "timeout" | "connection_lost" | "closed";

/**
 * The error's `details` (replies.ts `ErrorDetails`): `issue`, when there is one, is one of the
 * server's issue codes (docs/PROTOCOL.md "Errors"); the other members depend on the code.
 */
export type EquihomeErrorDetails = ErrorDetailsData;

/** A refused request or a server error frame: the protocol's `code`, `message` and `details`. */
export class EquihomeError extends Error {
  readonly code: EquihomeErrorCode;
  readonly details: EquihomeErrorDetails | undefined;

  constructor(code: EquihomeErrorCode, message: string, details?: EquihomeErrorDetails) {
    super(message);
    this.name = "EquihomeError";
    this.code = code;
    this.details = details;
  }
}
