import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * Where a connection stands with the WriteBatcher (`Flushable.flushState`). Odd states hold frames
 * (the socket is corked); even ones hold nothing.
 */
export const FlushState = {
  /** Holds nothing and wrote nothing lately: its next frame leaves at the end of the turn. */
  idle: 0,
  /** Holds frames until the end of the turn. */
  soon: 1,
  /** Holds nothing, but wrote less than `writeDelayMs` ago: its next frame waits for the batch timer. */
  recent: 2,
  /** Holds frames until the batch timer. */
  later: 3,
} as const;

const HOLDING = 1;

/** Something that holds its writes back (corked) until `flush()`. */
export interface Flushable {
  /** A FlushState, kept by the WriteBatcher and `release`. Starts `idle`. */
  flushState: number;
  /** Writes out what it holds, if anything (`release` says whether it holds anything). */
  flush(): void;
}

/** Whether `target` holds frames (has its socket corked). */
export function holding(target: Flushable): boolean {
  return (target.flushState & HOLDING) !== 0;
}

/** For `flush()`: marks `target` as holding nothing any more; false if it held nothing. */
export function release(target: Flushable): boolean {
  if ((target.flushState & HOLDING) === 0) return false;
  target.flushState ^= HOLDING;
  return true;
}

/** Longest `writeDelayMs` accepted: past it a held frame is late for the user, not merely batched. */
export const MAX_WRITE_DELAY_MS = 1_000;

/**
 * With a write delay, a connection whose unsent output reaches this many bytes (or a quarter of
 * `maxBufferedBytes`, if less) is flushed at once: a burst goes out in large writes instead of
 * growing unseen until the batch is due, and the slow-consumer check (made at each flush) sees it.
 */
export const WRITE_BATCH_BYTES = 64 * 1024;

/**
 * Flushes corked connections in batches: one scheduled callback serves every connection of a batch,
 * and a connection writes what it holds in one syscall.
 *
 * A connection holding nothing corks its socket at its next frame and is flushed at the end of that
 * event-loop turn (setImmediate): the frames of one turn share one write. With `delayMs` > 0 it then
 * counts as recent for `delayMs`: frames it gets meanwhile are held and all leave together when the
 * batch timer fires, so a connection writes at most about once per `delayMs`, however many messages
 * it receives, for at most `delayMs` of added latency. A frame after a quiet spell is not delayed.
 * One timer, restarted every `delayMs` while some connection is recent, serves all of them.
 */
export class WriteBatcher {
  readonly delayMs: number;
  /** Unsent bytes past which a holding connection is flushed before its batch is due. */
  readonly maxHeldBytes: number;
  /** Connections holding frames until the end of the turn (an entry whose state changed is skipped). */
  readonly #soon: Flushable[] = [];
  /** Connections `recent` or `later`; swapped with #spare while the timer's batch runs. */
  #later: Flushable[] = [];
  #spare: Flushable[] = [];
  readonly #flushSoon = this.#runSoon.bind(this);
  readonly #flushLater = this.#runLater.bind(this);

  constructor(delayMs: number, maxBufferedBytes: number) {
    if (!(delayMs >= 0 && delayMs <= MAX_WRITE_DELAY_MS)) {
      throw new TidingsError(
        ErrorCode.invalidField,
        `writeDelayMs must be between 0 and ${MAX_WRITE_DELAY_MS}, got ${delayMs}`,
      );
    }
    this.delayMs = delayMs;
    // Delay 0 never holds a frame past the turn that wrote it: nothing to bound.
    this.maxHeldBytes =
      delayMs === 0
        ? Number.POSITIVE_INFINITY
        : Math.min(WRITE_BATCH_BYTES, Math.floor(maxBufferedBytes / 4));
  }

  /** Called by a connection that holds nothing when it corks its socket for a frame. */
  hold(target: Flushable): void {
    if (target.flushState === FlushState.recent) {
      // Already in #later: the timer flushes it.
      target.flushState = FlushState.later;
      return;
    }
    target.flushState = FlushState.soon;
    if (this.#soon.push(target) === 1) setImmediate(this.#flushSoon);
  }

  /**
   * The client asked for something (a WebSocket frame came in): what `target` holds, or writes in
   * this turn, leaves at the end of the turn rather than at the timer, so its replies are not delayed.
   */
  expedite(target: Flushable): void {
    if (target.flushState === FlushState.recent) {
      // Its entry in #later stays: the timer finds it idle (or held for the turn) and lets it go.
      target.flushState = FlushState.idle;
    } else if (target.flushState === FlushState.later) {
      target.flushState = FlushState.soon;
      if (this.#soon.push(target) === 1) setImmediate(this.#flushSoon);
    }
  }

  #runSoon(): void {
    const soon = this.#soon;
    // A flush may hold another target (a slow consumer's `disconnect`); the loop picks it up.
    for (let i = 0; i < soon.length; i++) {
      const target = soon[i];
      // Anything else: flushed early (a large burst, an end) since, maybe held again further down.
      if (target.flushState !== FlushState.soon) continue;
      target.flush();
      // (The flush changed the state: TypeScript still sees the one checked above.)
      if (this.delayMs > 0 && (target.flushState as number) === FlushState.idle) this.#recent(target);
    }
    soon.length = 0;
  }

  #runLater(): void {
    const batch = this.#later;
    this.#later = this.#spare;
    this.#spare = batch;
    for (let i = 0; i < batch.length; i++) {
      const target = batch[i];
      if (target.flushState === FlushState.later) {
        target.flush();
        // Wrote just now: recent for another round (or, if the flush wrote a goodbye, holding it).
        if (target.flushState >= FlushState.recent) this.#requeue(target);
      } else if (target.flushState === FlushState.recent) {
        // Nothing for a whole round: its next frame goes out at once.
        target.flushState = FlushState.idle;
      }
      // idle or soon: flushed early and released, maybe held again for the turn: not this batch's.
    }
    batch.length = 0;
  }

  #recent(target: Flushable): void {
    target.flushState = FlushState.recent;
    this.#requeue(target);
  }

  #requeue(target: Flushable): void {
    // Unref'd: held frames belong to open sockets, which keep the process alive by themselves.
    if (this.#later.push(target) === 1) setTimeout(this.#flushLater, this.delayMs).unref();
  }
}
