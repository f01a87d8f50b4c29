import type { Envelope } from './message.js';

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
  /** Made when first needed: most trackers never hold anything back. */
  pending: Envelope[] | undefined;

  constructor(
    readonly channel: string,
    epoch = '',
    offset = -1,
  ) {
    this.epoch = epoch;
    this.offset = offset;
  }
}
