import { ErrorCode, TidingsError } from '@tidings/protocol';

/** Something that holds its writes back (corked) until `flush()`. */
export interface Flushable {
  flush(): void;
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
 * Flushes corked connections in batches, one scheduled callback for every connection of the batch.
 * A connection corks its socket at its first write after a flush and asks for one; everything it
 * writes until the batch is flushed leaves in one syscall.
 *
 * Delay 0: the batch is flushed once the current event-loop turn's work is done (setImmediate), so
 * the frames of one turn share a write. Delay N ms: the first connection to cork starts one timer of
 * N ms and every connection corked before it fires is flushed with it, so a connection that receives a
 * message every few ms makes one write per N ms instead of one per message: fewer syscalls and TCP
 * segments per delivery (and on the client, fewer reads), for at most N ms of added latency.
 */
export class WriteBatcher {
  readonly delayMs: number;
  /** Unsent bytes past which a corked connection is flushed before the batch is due. */
  readonly maxHeldBytes: number;
  readonly #pending: Flushable[] = [];
  readonly #flushAll = this.#flush.bind(this);

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

  /** Flushes `target` with the current batch (starting one if there is none). */
  schedule(target: Flushable): void {
    if (this.#pending.push(target) !== 1) return;
    if (this.delayMs === 0) setImmediate(this.#flushAll);
    // Unref'd: held frames belong to open sockets, which keep the process alive by themselves.
    else setTimeout(this.#flushAll, this.delayMs).unref();
  }

  #flush(): void {
    const pending = this.#pending;
    // A flush may queue another target (a slow consumer's `disconnect`); the loop picks it up.
    for (let i = 0; i < pending.length; i++) pending[i].flush();
    pending.length = 0;
  }
}
