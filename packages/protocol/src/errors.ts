/**
 * Stable error codes. Grouped by what the receiver should do about them, so a client can decide
 * without a table of its own: `retry` the same request later, `resubscribe`, or give up (`fatal`).
 */
export const ErrorCode = {
  // The request was wrong: fix it, do not retry as is.
  malformedFrame: 'MALFORMED_FRAME',
  unknownFrame: 'UNKNOWN_FRAME',
  invalidField: 'INVALID_FIELD',
  invalidChannel: 'INVALID_CHANNEL',
  invalidCursor: 'INVALID_CURSOR',
  messageTooLarge: 'MESSAGE_TOO_LARGE',
  frameTooLarge: 'FRAME_TOO_LARGE',
  notSerializable: 'NOT_SERIALIZABLE',
  /** The data does not pass the server's schema for the channel; `details.issues` says why. */
  invalidData: 'INVALID_DATA',
  unsupportedVersion: 'UNSUPPORTED_VERSION',
  alreadySubscribed: 'ALREADY_SUBSCRIBED',
  notSubscribed: 'NOT_SUBSCRIBED',
  tooManySubscriptions: 'TOO_MANY_SUBSCRIPTIONS',
  conflict: 'CONFLICT',
  /** The server does not offer this here: presence of a channel without presence, or an engine without it. */
  unsupported: 'UNSUPPORTED',
  // Who you are, or what you may do.
  unauthorized: 'UNAUTHORIZED',
  tokenExpired: 'TOKEN_EXPIRED',
  forbidden: 'FORBIDDEN',
  tooManyConnections: 'TOO_MANY_CONNECTIONS',
  // Transient: try again (later, or elsewhere).
  rateLimited: 'RATE_LIMITED',
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  slowConsumer: 'SLOW_CONSUMER',
  shuttingDown: 'SHUTTING_DOWN',
  timeout: 'TIMEOUT',
  internal: 'INTERNAL',
  closed: 'CLOSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type ErrorAction = 'retry' | 'reconnect' | 'fatal';

const actions: Record<ErrorCode, ErrorAction> = {
  MALFORMED_FRAME: 'fatal',
  UNKNOWN_FRAME: 'fatal',
  INVALID_FIELD: 'fatal',
  INVALID_CHANNEL: 'fatal',
  INVALID_CURSOR: 'fatal',
  MESSAGE_TOO_LARGE: 'fatal',
  FRAME_TOO_LARGE: 'fatal',
  NOT_SERIALIZABLE: 'fatal',
  INVALID_DATA: 'fatal',
  UNSUPPORTED_VERSION: 'fatal',
  ALREADY_SUBSCRIBED: 'fatal',
  NOT_SUBSCRIBED: 'fatal',
  TOO_MANY_SUBSCRIPTIONS: 'fatal',
  CONFLICT: 'fatal',
  UNSUPPORTED: 'fatal',
  UNAUTHORIZED: 'fatal',
  TOKEN_EXPIRED: 'reconnect',
  FORBIDDEN: 'fatal',
  TOO_MANY_CONNECTIONS: 'retry',
  RATE_LIMITED: 'retry',
  ENGINE_UNAVAILABLE: 'retry',
  SLOW_CONSUMER: 'reconnect',
  SHUTTING_DOWN: 'reconnect',
  TIMEOUT: 'retry',
  INTERNAL: 'retry',
  CLOSED: 'fatal',
};

/** What to do about an error with this code: retry the request, reconnect (and resume), or give up. */
export function errorAction(code: string): ErrorAction {
  return actions[code as ErrorCode] ?? 'fatal';
}

/** HTTP status for each code, used by the HTTP endpoints. */
const statuses: Partial<Record<ErrorCode, number>> = {
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  INVALID_DATA: 422,
  MESSAGE_TOO_LARGE: 413,
  FRAME_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TOO_MANY_CONNECTIONS: 429,
  ENGINE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};

export function httpStatus(code: string): number {
  return statuses[code as ErrorCode] ?? 400;
}

/** The WebSocket close code for an error code (4000 + its HTTP status); the close reason carries the code itself. */
export function closeCode(code: string): number {
  return 4000 + httpStatus(code);
}

/** The one error type of Tidings, on both sides of the wire. `code` is stable; `message` is for people. */
export class TidingsError extends Error {
  override readonly name = 'TidingsError';
  readonly code: ErrorCode;
  /** Extra machine-readable facts, e.g. the current position on a CONFLICT. */
  readonly details?: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    if (details) this.details = details;
  }

  get action(): ErrorAction {
    return errorAction(this.code);
  }
}

export function isTidingsError(value: unknown): value is TidingsError {
  return value instanceof TidingsError;
}
