import type { Engine, ReadResult, Snapshot } from '@tidings/engine';
import type { Position } from '@tidings/protocol';

/**
 * What delivery after a position is: the retained messages right after it (`reset: false`), or, when
 * that position can no longer be served, a reset: the snapshot (if the channel has one in its current
 * epoch) and the retained messages after it.
 */
export type Resumed =
  | { readonly reset: false; readonly read: ReadResult }
  | {
      readonly reset: true;
      /** The channel's state, or null when it has none in the epoch `read` is from. */
      readonly snapshot: Snapshot | null;
      /** Where the reset puts the reader: the snapshot's position, or just before the oldest retained message. */
      readonly position: Position;
      /** Retained messages after the snapshot (all retained ones without it), oldest first. */
      readonly read: ReadResult;
    };

/**
 * The one owner of "can this position still be served, else reset to the snapshot": `hub.history`, a
 * subscription starting from a position or from the snapshot, and each page of a catch-up (after a
 * gap, a resync, a reconnect) all ask here, so they all answer alike. At most `limit` messages.
 */
export async function resume(
  engine: Engine,
  channel: string,
  since: Position | 'snapshot',
  limit: number,
): Promise<Resumed> {
  if (since !== 'snapshot') {
    const read = await engine.read(channel, Math.max(0, since.offset), limit);
    if (servable(read, since)) return { reset: false, read };
  }
  const snapshot = await engine.snapshot(channel);
  let read = await engine.read(channel, snapshot?.offset ?? 0, limit);
  const usable = snapshot !== null && snapshot.epoch === read.epoch;
  // A snapshot of an earlier epoch says nothing about this one: read its history from the start.
  if (!usable && snapshot !== null && snapshot.offset > 0) read = await engine.read(channel, 0, limit);
  return {
    reset: true,
    snapshot: usable ? snapshot : null,
    position: { epoch: read.epoch, offset: usable ? snapshot.offset : read.firstOffset - 1 },
    read,
  };
}

/**
 * Whether the messages right after `position` can be served from this read: the same epoch, not ahead
 * of the channel, and not before what is retained.
 */
export function servable(read: ReadResult, position: Position): boolean {
  return (
    read.epoch === position.epoch && position.offset <= read.offset && position.offset >= read.firstOffset - 1
  );
}
