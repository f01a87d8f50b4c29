import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/**
 * How long a connection the server ends may take to go (the client reads the last frames, or answers
 * the close handshake) before its socket is destroyed and its buffers freed. Every transport.
 */
export const CLOSE_GRACE_MS = 2_000;

/**
 * How long a connection may hold unsent history before it counts as a slow consumer: a catch-up
 * waits for the client to take what was written, and a client that takes nothing for this long is
 * dropped (SLOW_CONSUMER). Documented under "Limits" in docs/PROTOCOL.md.
 */
export const SLOW_CONSUMER_GRACE_MS = 5_000;

/**
 * A catch-up writes history while the connection holds less than this many unsent bytes (and at most
 * a quarter of `maxBufferedBytes`): a client that does not read costs about this much, one that does
 * read is never near the limit.
 */
export const PACE_BYTES = 256 * 1024;

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
