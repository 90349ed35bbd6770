/**
 * The one error vocabulary of realtime-edge. Every refusal, whatever the protocol, starts as one
 * of these codes; each protocol maps it to its own shape (JSON `error` event, HTTP status).
 * The codes are the Equihome seed's, so JSON clients switch on them unchanged.
 */
export const ERROR_CODES = {
  /** No valid token, or it expired. Client: get a new token, reconnect (or `refresh_token`). */
  authentication_error: 401,
  /** The token is valid but lacks the scope or resource. Client: do not retry as is. */
  authorization_error: 403,
  /** The frame or body is not valid JSON or not the documented shape. Client: fix the sender. */
  invalid_message: 400,
  /** The event name is unknown. Client: check the protocol version. */
  invalid_event: 400,
  /** The channel is unknown or its keys are missing or malformed. */
  invalid_subscription: 400,
  /** The resource does not exist. */
  resource_not_found: 404,
  /** Our fault. Client: retry with backoff; ingest retries are safe with event ids. */
  server_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ProtocolErrorDetails {
  [key: string]: unknown;
}

/** The one exception type: a code callers switch on, a message for people, optional details. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly details: ProtocolErrorDetails | undefined;
  /** HTTP status when this error ends a request (413 for payload too large, else by code). */
  readonly status: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ProtocolErrorDetails; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.code = code;
    this.details = options.details;
    this.status = options.status ?? ERROR_CODES[code];
  }
}

/**
 * WebSocket close codes sent by the server. 4000-4999 are application codes (RFC 6455 §7.4.2).
 */
export const CLOSE_CODES = {
  /** Normal closure, e.g. the client asked to leave. */
  normal: 1000,
  /** A text frame on the binary y-websocket protocol, or a malformed y-websocket message. */
  unsupported_data: 1003,
  /** Policy violation: message rate far over the limit. Reconnect after a pause. */
  policy_violation: 1008,
  /** A frame over the size limit. */
  message_too_big: 1009,
  /** Server error; the socket's state could not be recovered. Reconnect. */
  internal_error: 1011,
  /** No valid token (at connect, or it expired while open). Get a new token before reconnecting. */
  authentication_failed: 4401,
  /**
   * A Yjs update the document refuses (its dependencies never arrived, too deep, outside the
   * `data` map, too many leaves, a forbidden key or a non-finite number in a value). Nothing of
   * it was applied; a `permission-denied` auth message before the close names the reason. The
   * client must drop that change (y-websocket does not reconnect after 4400-4499 by itself).
   */
  update_refused: 4400,
  /**
   * Too many open connections of one user (y-websocket, per document). Close some first;
   * y-websocket does not reconnect after it by itself.
   */
  too_many_connections: 4429,
  /** The token does not reach the resource (y-websocket). Do not reconnect with this token. */
  forbidden: 4403,
} as const;
