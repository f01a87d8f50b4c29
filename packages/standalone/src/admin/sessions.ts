import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface AdminSession {
  readonly id: string;
  /** Sent back with every action (header `x-tidings-csrf`); a page of another origin cannot read it. */
  readonly csrf: string;
  expiresAt: number;
}

/** A session ends after this long without a request, and at the latest after MAX_AGE_MS. */
const IDLE_MS = 30 * 60_000;
const MAX_AGE_MS = 12 * 60 * 60_000;
/** Logins beyond this evict the oldest session, so a flood of logins cannot grow the table. */
const MAX_SESSIONS = 1_000;

/**
 * The dashboard's logins: a random id in an HttpOnly cookie, the session itself only here, in memory
 * (a restart logs everyone out, which a dashboard can afford). Secrets are compared as digests in
 * constant time.
 */
export class AdminSessions {
  readonly #secrets: Buffer[];
  readonly #sessions = new Map<string, AdminSession & { readonly endsAt: number }>();
  readonly #now: () => number;

  /** `secrets`: the admin password and/or the API key; any of them logs in. */
  constructor(secrets: readonly string[], now: () => number = Date.now) {
    this.#secrets = secrets.map(digest);
    this.#now = now;
  }

  get enabled(): boolean {
    return this.#secrets.length > 0;
  }

  /** A new session when `secret` is one of the configured ones, else undefined. */
  login(secret: string): AdminSession | undefined {
    const given = digest(secret);
    // Every secret is compared, so the time taken does not tell which one matched.
    let ok = false;
    for (const expected of this.#secrets) ok = timingSafeEqual(given, expected) || ok;
    if (!ok) return undefined;
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const now = this.#now();
    const session = {
      id: token(),
      csrf: token(),
      expiresAt: now + IDLE_MS,
      endsAt: now + MAX_AGE_MS,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session of this id, its idle expiry pushed back; undefined when unknown or expired. */
  get(id: string | undefined, touch = true): AdminSession | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.#now();
    if (now >= session.expiresAt || now >= session.endsAt) {
      this.#sessions.delete(id);
      return undefined;
    }
    if (touch) session.expiresAt = Math.min(now + IDLE_MS, session.endsAt);
    return session;
  }

  logout(id: string): void {
    this.#sessions.delete(id);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, session] of this.#sessions) {
      if (now >= session.expiresAt || now >= session.endsAt) this.#sessions.delete(id);
    }
  }
}

/** True when `a` and `b` are equal, in time independent of where they differ. */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
