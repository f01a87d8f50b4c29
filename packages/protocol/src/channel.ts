import { Defaults } from './constants.js';
import { ErrorCode, TidingsError } from './errors.js';

/**
 * Channel names are dot-separated segments, like NATS subjects: `chat`, `chat.room-1`, `user:42.inbox`.
 * A segment is one or more of `A-Z a-z 0-9 _ - : @ + ~ !`. Patterns may use `*` for exactly one segment
 * and a final `>` for one or more segments: `chat.*`, `chat.>`.
 * `=` `,` and spaces never appear in a name, so a cursor (`name=epoch:offset,…`) needs no escaping.
 */
const SEGMENT = '[A-Za-z0-9_\\-:@+~!]+';
const CHANNEL_RE = new RegExp(`^${SEGMENT}(\\.${SEGMENT})*$`);
const PATTERN_RE = new RegExp(`^(${SEGMENT}|\\*)(\\.(${SEGMENT}|\\*))*(\\.>)?$|^>$`);

export function isChannelName(name: unknown, maxLength: number = Defaults.maxChannelLength): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= maxLength && CHANNEL_RE.test(name);
}

/** True for a valid pattern that has a wildcard. A plain channel name is not a pattern. */
export function isPattern(name: string): boolean {
  return (
    (name.includes('*') || name.includes('>')) &&
    name.length <= Defaults.maxChannelLength &&
    PATTERN_RE.test(name)
  );
}

export function assertChannelName(
  name: unknown,
  maxLength: number = Defaults.maxChannelLength,
): asserts name is string {
  if (!isChannelName(name, maxLength)) {
    throw new TidingsError(
      ErrorCode.invalidChannel,
      `invalid channel name ${JSON.stringify(String(name).slice(0, 64))}: use 1-${maxLength} characters, dot-separated segments of A-Z a-z 0-9 _ - : @ + ~ !`,
    );
  }
}

export function assertChannelOrPattern(name: unknown): asserts name is string {
  if (typeof name === 'string' && isPattern(name)) return;
  assertChannelName(name);
}

/** Compiles a pattern into a predicate over channel names. */
export function patternMatcher(pattern: string): (channel: string) => boolean {
  if (!isPattern(pattern)) return (channel) => channel === pattern;
  const parts = pattern.split('.');
  const tail = parts[parts.length - 1] === '>';
  const fixed = tail ? parts.slice(0, -1) : parts;
  return (channel) => {
    const segments = channel.split('.');
    if (tail ? segments.length <= fixed.length : segments.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      if (fixed[i] !== '*' && fixed[i] !== segments[i]) return false;
    }
    return true;
  };
}

export function matchesPattern(pattern: string, channel: string): boolean {
  return patternMatcher(pattern)(channel);
}
