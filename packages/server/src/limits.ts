import { Defaults, ErrorCode, MAX_LONG_POLL_WAIT_MS, TidingsError } from '@tidings/protocol';

/** What one client may cost the server. See the "Limits" table of docs/PROTOCOL.md. */
export interface Limits {
  /** Largest frame (WebSocket) or request body (HTTP) accepted, bytes. */
  maxFrameBytes: number;
  /** Largest published `data`, JSON bytes. Passed to the hub when the server creates it. */
  maxMessageBytes: number;
  /** Subscriptions per WebSocket connection or HTTP request. */
  maxSubscriptions: number;
  /**
   * Open WebSocket, SSE, stream and long-poll connections per identity (anonymous clients: per address)
   * in this process.
   */
  maxConnectionsPerIdentity: number;
  /**
   * Publishes per identity (anonymous clients: per address) in this process, over all its connections
   * and HTTP publishes together: a token bucket.
   */
  publishRate: { perSecond: number; burst: number };
  /** Output a connection may leave unsent before it is dropped as a slow consumer, bytes. */
  maxBufferedBytes: number;
  /** Longest `wait` a long-poll may ask for, ms. */
  maxLongPollWaitMs: number;
  /** Time allowed to authenticate a request and to receive a request body, ms. */
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: Defaults.maxFrameBytes,
  maxMessageBytes: Defaults.maxMessageBytes,
  maxSubscriptions: Defaults.maxSubscriptionsPerConnection,
  // Many tabs and devices of one user, or the clients of one office behind one address, stay well
  // below; one identity can no longer hold the whole process's connections.
  maxConnectionsPerIdentity: 100,
  publishRate: Object.freeze({ perSecond: 100, burst: 200 }),
  maxBufferedBytes: 4 * 1024 * 1024,
  maxLongPollWaitMs: MAX_LONG_POLL_WAIT_MS,
  requestTimeoutMs: 10_000,
});

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const key of [
    'maxFrameBytes',
    'maxMessageBytes',
    'maxSubscriptions',
    'maxConnectionsPerIdentity',
    'maxBufferedBytes',
    'maxLongPollWaitMs',
    'requestTimeoutMs',
  ] as const) {
    if (!(limits[key] > 0)) throw new TidingsError(ErrorCode.invalidField, `limits.${key} must be positive`);
  }
  const { perSecond, burst } = limits.publishRate;
  if (!(perSecond > 0) || !(burst >= 1)) {
    throw new TidingsError(ErrorCode.invalidField, 'limits.publishRate needs perSecond > 0 and burst >= 1');
  }
  return limits;
}

/** A token bucket: `burst` publishes at once, refilled at `perSecond`. */
export class RateLimiter {
  #tokens: number;
  #at: number;
  readonly #perMs: number;
  readonly #burst: number;

  constructor(rate: { perSecond: number; burst: number }, now = Date.now()) {
    this.#burst = rate.burst;
    this.#perMs = rate.perSecond / 1000;
    this.#tokens = rate.burst;
    this.#at = now;
  }

  /** Takes one token; false when there is none left. */
  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True when the bucket has refilled: it can be dropped without changing anything. */
  full(now = Date.now()): boolean {
    return this.#tokens + (now - this.#at) * this.#perMs >= this.#burst;
  }
}

/** Buckets kept at most; past it full ones are swept, then the oldest go. */
const MAX_BUCKETS = 100_000;

/**
 * One token bucket per client key (identity, or address), shared by all its connections and HTTP
 * publishes. A full bucket is the same as none, so full buckets are swept (on the server's tick, and
 * when the map reaches MAX_BUCKETS); memory stays bounded by the clients that published lately.
 */
export class RateLimiters {
  readonly #buckets = new Map<string, RateLimiter>();
  readonly #max: number;
  #sweptAt = 0;
  constructor(
    readonly rate: { perSecond: number; burst: number },
    max = MAX_BUCKETS,
  ) {
    this.#max = max;
  }

  get size(): number {
    return this.#buckets.size;
  }

  take(key: string, now = Date.now()): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#max) this.#makeRoom(now);
      bucket = new RateLimiter(this.rate, now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  sweep(now = Date.now()): void {
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key);
  }

  #makeRoom(now: number): void {
    // A sweep walks every bucket: at most once a second, so a flood of new keys stays linear.
    if (now - this.#sweptAt >= 1000) this.sweep(now);
    // Still full: the oldest bucket goes (its owner starts over with a full one, the price of a bound).
    if (this.#buckets.size >= this.#max) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }
}

/** Open connections per client key (identity, or address), for `maxConnectionsPerIdentity`. */
export class ConnectionCounter {
  readonly #counts = new Map<string, number>();
  constructor(readonly max: number) {}

  /** Counts one more connection for `id`; false (and nothing counted) when it has too many. */
  acquire(id: string): boolean {
    if (this.max === Number.POSITIVE_INFINITY) return true;
    const count = this.#counts.get(id) ?? 0;
    if (count >= this.max) return false;
    this.#counts.set(id, count + 1);
    return true;
  }

  release(id: string): void {
    if (this.max === Number.POSITIVE_INFINITY) return;
    const count = (this.#counts.get(id) ?? 1) - 1;
    if (count <= 0) this.#counts.delete(id);
    else this.#counts.set(id, count);
  }
}
