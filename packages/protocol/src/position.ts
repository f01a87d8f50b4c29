import { isChannelName } from './channel.js';
import { ErrorCode, TidingsError } from './errors.js';

/**
 * A place in one channel's stream. `offset` counts the channel's messages from 1 with no gaps;
 * `epoch` names one unbroken history of the channel and changes whenever that history is lost or
 * reset, so `(epoch, offset)` says exactly what a reader has seen.
 */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isPosition(value: unknown): value is Position {
  if (typeof value !== 'object' || value === null) return false;
  const { epoch, offset } = value as Record<string, unknown>;
  return (
    typeof epoch === 'string' &&
    EPOCH_RE.test(epoch) &&
    Number.isSafeInteger(offset) &&
    (offset as number) >= 0
  );
}

/** A cursor: the position of each channel a stateless HTTP client reads, `chat=Ep0ch:12,news=Xy:3`. */
export type Cursor = Map<string, Position>;

export function encodeCursor(cursor: ReadonlyMap<string, Position>): string {
  let out = '';
  for (const [channel, position] of cursor) {
    out += `${out ? ',' : ''}${channel}=${position.epoch}:${position.offset}`;
  }
  return out;
}

export function decodeCursor(text: string, maxEntries = 1_000): Cursor {
  const cursor: Cursor = new Map();
  if (text === '') return cursor;
  const entries = text.split(',');
  if (entries.length > maxEntries)
    throw new TidingsError(ErrorCode.invalidCursor, `cursor has more than ${maxEntries} channels`);
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const colon = entry.lastIndexOf(':');
    const channel = entry.slice(0, eq);
    const position = { epoch: entry.slice(eq + 1, colon), offset: Number(entry.slice(colon + 1)) };
    if (
      eq <= 0 ||
      colon < eq ||
      !isChannelName(channel) ||
      !isPosition(position) ||
      entry.slice(colon + 1) === ''
    ) {
      throw new TidingsError(
        ErrorCode.invalidCursor,
        `invalid cursor entry ${JSON.stringify(entry.slice(0, 80))}: expected channel=epoch:offset`,
      );
    }
    cursor.set(channel, position);
  }
  return cursor;
}
