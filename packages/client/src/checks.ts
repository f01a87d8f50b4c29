import {
  ErrorCode,
  type ErrorFrame,
  isChannelName,
  isPattern,
  isPosition,
  Since,
  type SinceSpec,
  TidingsError,
} from '@tidings/protocol';

/**
 * The client's checks of what the app passes: the same rules as the server's, with shorter messages
 * (the server checks again, and the browser bundle stays small).
 */
export function assertChannel(name: unknown, pattern?: boolean): asserts name is string {
  if (!isChannelName(name) && !(pattern && typeof name === 'string' && isPattern(name))) {
    throw new TidingsError(ErrorCode.invalidChannel, `invalid channel ${String(name).slice(0, 64)}`);
  }
}

/** A subscription's start: `'now'` (default), `'snapshot'` or a position. */
export function sinceOf(since: unknown = Since.now): SinceSpec {
  if (since === Since.now || since === Since.snapshot) return since;
  if (isPosition(since)) return { epoch: since.epoch, offset: since.offset };
  throw new TidingsError(ErrorCode.invalidField, 'invalid since');
}

/** The error an `error` (or `disconnect`-like) frame carries. */
export const errorOf = (frame: Pick<ErrorFrame, 'code' | 'message' | 'details'>): TidingsError =>
  new TidingsError(frame.code, frame.message, frame.details);
