import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, TidingsError } from '@tidings/protocol';

const DEFAULT_TIMEOUT_MS = 5_000;
const POLL_MS = 5;

/**
 * Polls `predicate` until it returns a truthy value and resolves with that value; rejects with a
 * TIMEOUT TidingsError after `timeoutMs`. For things that happen asynchronously (an engine delivering
 * through a broker, a socket receiving a frame).
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
  message = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) {
      throw new TidingsError(ErrorCode.timeout, `waitFor: ${message} not met within ${timeoutMs} ms`);
    }
    await sleep(POLL_MS);
  }
}
