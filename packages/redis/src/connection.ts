import { Redis, type RedisOptions } from 'ioredis';
import { unavailable } from './unavailable.js';

// Backoff between reconnect attempts: 50 ms doubling up to 2 s, with jitter so that many server
// processes do not reconnect in lockstep after a Redis restart.
function retryStrategy(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 6), 2_000) + Math.floor(Math.random() * 50);
}

/**
 * Opens a connection that fails fast rather than queueing: while Redis is down a command rejects at
 * once (no offline queue), a command in flight when the connection drops rejects with it (no retries
 * per request) and is never sent twice (no resend after reconnect: a publish is not idempotent), and
 * `commandTimeoutMs` bounds a server that stops answering. Reconnecting goes on in the background.
 */
export function openConnection(url: string, user: RedisOptions, own: RedisOptions): Redis {
  const { keyPrefix: _ignored, ...rest } = user;
  return new Redis(url, {
    retryStrategy,
    connectTimeout: 5_000,
    ...rest,
    ...own,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  });
}

const CONNECTING = new Set(['wait', 'connecting', 'connect']);

/**
 * Resolves when `redis` can take commands. A connection still on its way up is waited for (at most
 * `timeoutMs`); one that is down or reconnecting fails at once, so a caller never hangs on Redis.
 */
export function whenUsable(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (!CONNECTING.has(redis.status)) return Promise.reject(unavailable(`connection is ${redis.status}`));
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('close', onClose);
      redis.off('end', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onClose = () => done(unavailable('connection failed'));
    const timer = setTimeout(() => done(unavailable(`not connected within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', onReady);
    redis.once('close', onClose);
    redis.once('end', onClose);
  });
}

/** Resolves once `redis` is ready, however long that takes; rejects if it gives up for good. */
export function whenReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (redis.status === 'end') return Promise.reject(unavailable('connection ended'));
  return new Promise((resolve, reject) => {
    const onReady = () => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      redis.off('ready', onReady);
      reject(unavailable('connection ended'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/** Quits politely when connected, and in any case stops reconnecting. */
export async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((r) => setTimeout(r, 1_000).unref()),
    ]);
  }
  redis.disconnect(false);
}
