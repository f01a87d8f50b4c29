/** Failed logins allowed per address in a window; beyond them the login answers 429 until it ends. */
const MAX_FAILURES = 10;
const WINDOW_MS = 60_000;
/** Addresses tracked at most, so a spray of addresses cannot grow the table without bound. */
const MAX_ADDRESSES = 10_000;

/**
 * Slows down guessing the admin password: 10 wrong tries a minute per client address. Behind a
 * proxy every client shares the proxy's address, so the limit then holds for all of them together,
 * which errs on the side of the password.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, { count: number; since: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** True while `address` has used up its tries. */
  blocked(address: string): boolean {
    const entry = this.#failures.get(address);
    if (entry === undefined) return false;
    if (this.#now() - entry.since >= WINDOW_MS) {
      this.#failures.delete(address);
      return false;
    }
    return entry.count >= MAX_FAILURES;
  }

  failed(address: string): void {
    const now = this.#now();
    const entry = this.#failures.get(address);
    if (entry !== undefined && now - entry.since < WINDOW_MS) {
      entry.count++;
      return;
    }
    if (this.#failures.size >= MAX_ADDRESSES) {
      for (const [key, old] of this.#failures) if (now - old.since >= WINDOW_MS) this.#failures.delete(key);
      if (this.#failures.size >= MAX_ADDRESSES) this.#failures.clear();
    }
    this.#failures.set(address, { count: 1, since: now });
  }
}
