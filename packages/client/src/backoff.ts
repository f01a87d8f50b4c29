/** How long to wait before the `tries`-th attempt (1 for the first retry), in ms. */
export type Backoff = (tries: number) => number;

/**
 * Exponential with full jitter: the n-th retry waits a random time between `min` and
 * min(`max`, `min`·2^(n-1)) ms, so clients that lost the same server come back spread out instead of
 * all at once, and never hammer a server that answers at once with a refusal.
 */
export function exponentialBackoff(min = 250, max = 10_000, random: () => number = Math.random): Backoff {
  return (tries) => {
    const cap = Math.min(max, min * 2 ** Math.max(0, tries - 1));
    return min + random() * (cap - min);
  };
}
