import type { ErrorCode } from "../../src/protocol/errors";

/**
 * The codes an {@link EquihomeError} carries: the server's (docs/PROTOCOL.md "Errors"), and three
 * of the client's own: `timeout` (no reply within the request's timeout), `connection_lost` (the
 * socket closed before the reply; the request may or may not have been carried out) and `closed`
 * (the client was closed, or stopped reconnecting).
 */
export type EquihomeErrorCode = ErrorCode | "timeout" | "connection_lost" | "closed";

/** A refused request or a server error frame: the protocol's `code`, `message` and `details`. */
export class EquihomeError extends Error {
  readonly code: EquihomeErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: EquihomeErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "EquihomeError";
    this.code = code;
    this.details = details;
  }
}
