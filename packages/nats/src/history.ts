import type { StoredRecord } from './record.js';

/** Single-message lookups within one channel's subject. */
export interface RecordSource {
  /** The first message of the channel with stream sequence ≥ `seq`, or null. */
  next(seq: number): Promise<StoredRecord | null>;
}

export interface History {
  firstOffset: number;
  messages: StoredRecord[];
}

// Below this many messages between a known record and the target, stepping is cheaper than bisecting.
const LINEAR_STEPS = 8;

/**
 * Retained messages after `after`, given the channel's last stored record. The stream keeps more
 * than a channel's policy may allow (its limits are the stream-wide maximums), so the policy stamped
 * on the last message decides what counts as retained: the newest `size` offsets, younger than `ttlMs`.
 *
 * Within a channel, stream sequences grow with offsets, so the first retained message and the first
 * one after `after` are found by bisecting over stream sequences, one direct get per step.
 */
export async function readHistory(
  source: RecordSource,
  last: StoredRecord,
  after: number,
  limit: number,
  now: number,
): Promise<History> {
  const nothing: History = { firstOffset: last.offset + 1, messages: [] };
  if (last.offset === 0) return nothing;
  const minOffset = last.size !== undefined ? Math.max(1, last.offset - last.size + 1) : 1;
  const cutoff = last.ttlMs !== undefined ? now - last.ttlMs : Number.NEGATIVE_INFINITY;
  const retained = (r: StoredRecord) => r.epoch === last.epoch && r.offset >= minOffset && r.ts >= cutoff;
  if (!retained(last)) return nothing;

  const oldest = await source.next(0);
  const first =
    oldest && retained(oldest) ? oldest : await findFirst(source, oldest, last, retained, minOffset);
  const start = Math.max(after + 1, first.offset);
  const count = Math.min(Math.max(0, limit), last.offset - start + 1);
  if (count <= 0) return { firstOffset: first.offset, messages: [] };

  const from =
    start === first.offset
      ? first
      : start === last.offset
        ? last
        : await findFirst(source, first, last, (r) => r.epoch === last.epoch && r.offset >= start, start);
  return { firstOffset: first.offset, messages: await scan(source, from, count, last) };
}

/**
 * The first record satisfying `accept` (which holds for `best` and, along the channel, from some
 * point on), searching the stream sequences after `below` (which fails it, or is null). When the
 * target offset is only a few messages past `below`, stepping there beats bisecting the sequences.
 */
async function findFirst(
  source: RecordSource,
  below: StoredRecord | null,
  best: StoredRecord,
  accept: (r: StoredRecord) => boolean,
  targetOffset?: number,
): Promise<StoredRecord> {
  let low = below?.seq ?? 0;
  if (below && targetOffset !== undefined && targetOffset - below.offset <= LINEAR_STEPS) {
    let current = below;
    for (let i = 0; i < LINEAR_STEPS; i++) {
      const next = await source.next(current.seq + 1);
      if (!next || next.seq >= best.seq) return best;
      if (accept(next)) return next;
      current = next;
    }
    low = current.seq;
  }
  // Invariant: no channel message in (low, bound) is known to pass; `best` passes and is at or after bound.
  let bound = best.seq;
  while (bound - low > 1) {
    const mid = Math.floor((low + bound) / 2);
    const found = await source.next(mid);
    if (!found || found.seq >= bound) {
      // Nothing of this channel in [mid, bound): the answer is `best` or lies below mid.
      bound = mid;
    } else if (accept(found)) {
      best = found;
      bound = mid;
    } else {
      low = found.seq;
    }
  }
  return best;
}

/** Up to `count` messages from `from` on, stopping at any gap so the result is contiguous. */
async function scan(
  source: RecordSource,
  from: StoredRecord,
  count: number,
  last: StoredRecord,
): Promise<StoredRecord[]> {
  const out = [from];
  let previous = from;
  while (out.length < count && previous.offset < last.offset) {
    const next = previous.seq + 1 === last.seq ? last : await source.next(previous.seq + 1);
    if (!next || next.epoch !== last.epoch || next.offset !== previous.offset + 1) break;
    out.push(next);
    previous = next;
  }
  return out;
}
