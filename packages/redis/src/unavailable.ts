import { ErrorCode, isTidingsError, TidingsError } from '@tidings/protocol';

// Replies Redis gives while it cannot serve writes for a while: worth retrying, like a lost connection.
const TRANSIENT_REPLY = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/**
 * Turns whatever a Redis call rejected with into a TidingsError. Connection trouble (refused, closed,
 * timed out, offline) and transient server states become ENGINE_UNAVAILABLE, which callers retry;
 * any other error reply is a bug or a misconfiguration, reported as INTERNAL.
 */
export function toTidingsError(error: unknown): TidingsError {
  if (isTidingsError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const isReply = error instanceof Error && error.name === 'ReplyError';
  if (isReply && !TRANSIENT_REPLY.test(message)) {
    return new TidingsError(ErrorCode.internal, `Redis error: ${message}`, undefined, { cause: error });
  }
  return new TidingsError(ErrorCode.engineUnavailable, `Redis unavailable: ${message}`, undefined, {
    cause: error,
  });
}

export function unavailable(reason: string): TidingsError {
  return new TidingsError(ErrorCode.engineUnavailable, `Redis unavailable: ${reason}`);
}

export function closedError(): TidingsError {
  return new TidingsError(ErrorCode.closed, 'the Redis engine is closed');
}
