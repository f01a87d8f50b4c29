import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/**
 * How long a connection the server ends may take to go (the client reads the last frames, or answers
 * the close handshake) before its socket is destroyed and its buffers freed. Every transport.
 */
export const CLOSE_GRACE_MS = 2_000;

/**
 * How long a client may take nothing of what it was sent while the server waits for it (a catch-up
 * waiting to write more, a poll answer being written) before it counts as a slow consumer and is cut.
 * A slow client that does take its output, however slowly, is not. Documented under "Limits" in
 * docs/PROTOCOL.md.
 */
export const SLOW_CONSUMER_GRACE_MS = 5_000;

/**
 * A catch-up writes history while the connection holds less than this many unsent bytes (and at most
 * a quarter of `maxBufferedBytes`): a client that does not read costs about this much, one that does
 * read is never near the limit.
 */
export const PACE_BYTES = 256 * 1024;

/**
 * Calls `onStall` when `pending()` (bytes the client has not taken) has not gone down over one
 * SLOW_CONSUMER_GRACE_MS; looks again every grace period until stopped. Returns the stop function.
 */
export function watchStall(pending: () => number, onStall: () => void): () => void {
  let last = pending();
  const timer = setInterval(() => {
    const now = pending();
    if (now > 0 && now >= last) {
      clearInterval(timer);
      onStall();
    } else last = now;
  }, SLOW_CONSUMER_GRACE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Resolves once `socket` has written out what it held ('drain'), or is gone. */
export function drained(socket: Duplex | null): Promise<void> {
  if (socket === null || socket.destroyed || socket.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * Destroys the connection unless it closes by itself within CLOSE_GRACE_MS: a client that does not
 * read would otherwise keep its socket, and the output buffered for it, forever.
 */
export function destroyUnlessClosed(closes: EventEmitter, destroy: () => void): void {
  const timer = setTimeout(destroy, CLOSE_GRACE_MS);
  timer.unref();
  const cancel = () => clearTimeout(timer);
  closes.once('close', cancel);
}
