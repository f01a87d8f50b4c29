import type { ReadResult } from '@tidings/engine';
import type { Position } from '@tidings/protocol';
import type { Envelope } from './message.js';

/**
 * Whether the messages right after `position` can be served from this read: the same epoch, not ahead
 * of the channel, and not before what is retained. The one place this is decided (subscriptions
 * catching up, `hub.history`); otherwise the position is reset to the snapshot.
 */
export function servable(read: ReadResult, position: Position): boolean {
  return (
    read.epoch === position.epoch && position.offset <= read.offset && position.offset >= read.firstOffset - 1
  );
}

/**
 * Where one subscription stands in one channel: the last position it accepted, and live messages held
 * back while it reads history to close a gap.
 */
export class Tracker {
  epoch: string;
  offset: number;
  /** False while starting or recovering: live messages wait in `pending`. */
  live = false;
  /** Set when a resync arrives mid-recovery, so the recovery runs once more. */
  again = false;
  pending: Envelope[] = [];

  constructor(
    readonly channel: string,
    epoch = '',
    offset = -1,
  ) {
    this.epoch = epoch;
    this.offset = offset;
  }
}
