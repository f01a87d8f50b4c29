import { FrameType, type ServerFrame } from '@tidings/protocol';

/** How long the old source stays open once the new one has every subscription, if no message shows the overlap. */
const GRACE_MS = 500;
/** The old source closes after this long whatever happens (a refused subscription never says `subscribed`). */
const MAX_MS = 5_000;

export interface Handover {
  /** A frame of the old source: delivered at once, until the handover ends. */
  old(frame: ServerFrame): void;
  /** A frame of the new source: held until the handover ends, delivered at once after. */
  next(frame: ServerFrame): void;
  /** Ends it now (the old source failed, or the new one is all there is). */
  end(): void;
}

/** A pattern's message, named; nothing for any other frame. */
const key = (frame: ServerFrame) =>
  frame.type === FrameType.message &&
  frame.pattern &&
  `${frame.pattern} ${frame.channel} ${frame.epoch}:${frame.offset}`;

/**
 * Moves delivery from an old source of frames (a request, a connection) to a new one without losing
 * or doubling a message, pattern subscriptions included, which have no position to resume from. The
 * old source keeps delivering while the new one's frames wait. Once the new one has said `subscribed`
 * for each of `channels`, every pattern message it delivers was published after all its subscriptions
 * started: a pattern is never replayed (a channel is, from its position, so its messages prove
 * nothing). The first such message that the old one delivers too, before or after, shows that the old
 * one has delivered all that was published before (it delivers in publish order): the old one is
 * closed (`finish`) and the held frames follow; what both delivered, the subscriptions' positions
 * drop. With no such message, a short grace ends it: nothing was published meanwhile, or the old one
 * is ahead.
 */
export function handover(
  channels: string[],
  deliver: (frame: ServerFrame) => void,
  finish: () => void,
): Handover {
  const waiting = new Set(channels);
  /** Which source delivered a pattern message first: 0 the old one, 1 the new one (once it has every subscription). */
  const seen = new Map<string, number>();
  let held: ServerFrame[] | undefined = [];
  let timer = setTimeout(() => end(), MAX_MS);
  const end = (): void => {
    if (!held) return;
    clearTimeout(timer);
    const frames = held;
    held = undefined;
    finish();
    for (const frame of frames) deliver(frame);
  };
  /** A frame of one source: the handover ends at the first pattern message both delivered. */
  const count = (side: number, frame: ServerFrame): void => {
    const name = key(frame);
    if (!name) return;
    if ((seen.get(name) ?? side) === side) seen.set(name, side);
    else end();
  };
  return {
    old(frame) {
      if (!held) return;
      deliver(frame);
      count(0, frame);
    },
    next(frame) {
      if (!held) return deliver(frame);
      held.push(frame);
      if (!waiting.size) count(1, frame);
      else if (frame.type === FrameType.subscribed || frame.type === FrameType.error) {
        waiting.delete(frame.channel!);
        if (waiting.size) return;
        clearTimeout(timer);
        timer = setTimeout(end, GRACE_MS);
      }
    },
    end,
  };
}
