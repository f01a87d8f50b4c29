import { setTimeout as sleep } from 'node:timers/promises';

const DEFAULT_TIMEOUT_MS = 5_000;
const POLL_MS = 5;

/**
 * Runs `assertion` until it stops throwing; after `timeoutMs` rethrows its last error, so a failure
 * reads like the assertion's own (expected vs actual) rather than a bare timeout. Published here because
 * the contract suites use it; the private `@tidings/testing` re-exports it.
 */
export async function eventually(
  assertion: () => void | Promise<void>,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await sleep(POLL_MS);
  }
}
