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

/**
 * `details.issue`: what exactly was refused, a stable snake_case code a client can switch on,
 * under the error codes above. Each entry lists the error codes it comes with (the same issue
 * gives the same error code on every protocol), who sends it and what a receiver should do.
 * Anything a person should read goes in the error's `message` or in `details.hint`; the
 * field, segment or limit concerned in other details (`field`, `segment`, `key`, `limit`).
 * The seed's example `{"issue":"Missing simulation_id"}` is `{"issue":"missing_field",
 * "field":"simulation_id"}` here (docs/PROTOCOL.md, Errors).
 */
export const ISSUE_CODES = {
  // Frames, bodies and rates ------------------------------------------------------------------
  /** `/v1/ws`: a frame over MAX_FRAME_BYTES (`limit`); no `id`, then close 1009. Send less. */
  frame_too_large: ["invalid_message"],
  /** HTTP: a body over its limit (`limit`), status 413. Send less, or split the batch. */
  body_too_large: ["invalid_message"],
  /** Ingest: more events than MAX_INGEST_BATCH (`limit`, `received`), status 413. Split it. */
  batch_too_large: ["invalid_message"],
  /** Socket.IO: a packet with binary attachments. Send JSON only. */
  binary: ["invalid_message"],
  /** A message over the socket's rate: dropped, not handled. Slow down; resend if it mattered. */
  rate_limited: ["invalid_message"],

  // Per-user and per-socket limits -------------------------------------------------------------
  /** The user has the most sockets (`limit`) a hub allows. Close one, then reconnect. */
  connection_limit: ["authorization_error"],
  /** The socket holds the most subscriptions (`limit`). Unsubscribe first. */
  subscription_limit: ["invalid_subscription"],
  /** The socket holds the most editing sessions (`limit`). End one first. */
  editing_session_limit: ["invalid_message"],

  // Request fields -----------------------------------------------------------------------------
  /** A required field (`field`) is absent. Fix the sender. */
  missing_field: ["invalid_message", "invalid_subscription"],
  /** A field (`field`) has the wrong type or shape; `hint` says why. Fix the sender. */
  invalid_field: ["invalid_message", "invalid_subscription"],
  /** `subscribe` / `unsubscribe` to a channel this service does not have (`channels`: those it has). */
  unknown_channel: ["invalid_subscription"],
  /** Socket.IO: a user-room event without a user id string. Fix the sender. */
  invalid_user_id: ["invalid_message"],
  /** Socket.IO: `subscribe-market` without an array of commodity names. Fix the sender. */
  invalid_commodities: ["invalid_message"],

  // Editing ------------------------------------------------------------------------------------
  /** `update_resource` without an editing session of that resource (`resource`). `start_editing` first. */
  editing_not_started: ["invalid_message"],
  /** A path that is not `[a-z_][a-z0-9_]*` segments joined by `.` (`segment`, `hint`). Fix the path. */
  invalid_path: ["invalid_message"],
  /** A path deeper than MAX_PATH_DEPTH (`limit`). Fix the path. */
  path_too_deep: ["invalid_message"],
  /** A path that runs through a leaf value (`at`: the leaf's path). Write the leaf, or another path. */
  path_conflict: ["invalid_message"],
  /** A path segment or value key that is not allowed (`key`: `__proto__`, `constructor`, `prototype`). */
  forbidden_key: ["invalid_message"],
  /** A path segment or value key longer than MAX_KEY_LENGTH (`limit`). */
  key_too_long: ["invalid_message"],
  /** A value whose JSON is over MAX_EDIT_VALUE_BYTES (`limit`). Send less. */
  value_too_large: ["invalid_message"],
  /** A value nested deeper than MAX_VALUE_DEPTH (`limit`). */
  value_too_deep: ["invalid_message"],
  /** A number that is not finite (e.g. `1e309`). */
  non_finite_number: ["invalid_message"],

  // Ingest -------------------------------------------------------------------------------------
  /**
   * Ingest, status 503: the edits are stored but their events not yet published. Post the same
   * events again, with their ids, to learn their seqs; they are not applied twice.
   */
  publish_pending: ["server_error"],
  /**
   * `update_resource`: the document could not be reached to confirm the edit, after retries. It
   * may be stored (then its `resource_updated` with the request's id still arrives). Send the
   * same request again, with the same id: it is applied at most once.
   */
  edit_unconfirmed: ["server_error"],

  // y-websocket update refusals: the `<issue>` of `permission-denied` `refused: <issue>: …` and
  // of close 4400 `update refused: <issue>`; no error event. Drop that change.
  /** The update depends on changes the document never received. */
  unresolved_dependencies: [],
  /** The update writes outside the document's `data` map. */
  outside_data_map: [],
  /** The update nests maps deeper than the document allows. */
  too_deep: [],
  /** The update changes more leaves than one update may. */
  too_many_leaves: [],
  /** A value in the update breaks the value rules (the explanation names which). */
  invalid_value: [],
} as const satisfies Record<string, readonly ErrorCode[]>;

export type IssueCode = keyof typeof ISSUE_CODES;

export interface ProtocolErrorDetails {
  /** What exactly was wrong: one of the {@link IssueCode}s, so clients can switch on it. */
  issue?: IssueCode;
  [key: string]: unknown;
}

export function isIssueCode(text: string): text is IssueCode {
  return Object.hasOwn(ISSUE_CODES, text);
}

/** `details` with a vocabulary issue first, then what it concerns (`field`, `limit`, `hint`...). */
export function issueDetails(issue: IssueCode, extra: Record<string, unknown> = {}): ProtocolErrorDetails {
  return { issue, ...extra };
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

/** A ProtocolError as it is; anything else (a bug, a failed call to another object) as `server_error`. */
export function toProtocolError(error: unknown): ProtocolError {
  return error instanceof ProtocolError
    ? error
    : new ProtocolError("server_error", "Internal server error", { cause: error });
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
