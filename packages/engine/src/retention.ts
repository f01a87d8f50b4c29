import type { RetentionPolicy } from './engine.js';

/** What a channel keeps when the hub is given no retention of its own: 100 messages, 10 minutes. */
export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  size: 100,
  ttlMs: 10 * 60_000,
  idempotencyMs: 2 * 60_000,
});
