import { DEFAULT_RETENTION, type RetentionPolicy } from '@tidings/engine';
import { patternMatcher } from '@tidings/protocol';

/** Per-pattern retention, e.g. `{ 'chat.*': { size: 100, ttlMs: 600_000 } }`. */
export type RetentionConfig = Record<string, Partial<RetentionPolicy>>;

/**
 * Picks a channel's retention policy: the first configured pattern that matches wins (so list the
 * most specific first), over the defaults. Results are cached per channel name.
 */
export class RetentionRules {
  readonly #rules: { match: (channel: string) => boolean; policy: RetentionPolicy }[];
  readonly #fallback: RetentionPolicy;
  readonly #cache = new Map<string, RetentionPolicy>();

  constructor(config: RetentionConfig = {}, defaults: Partial<RetentionPolicy> = {}) {
    this.#fallback = Object.freeze({ ...DEFAULT_RETENTION, ...defaults });
    this.#rules = Object.entries(config).map(([pattern, policy]) => ({
      match: patternMatcher(pattern),
      policy: Object.freeze({ ...this.#fallback, ...policy }),
    }));
  }

  for(channel: string): RetentionPolicy {
    let policy = this.#cache.get(channel);
    if (policy === undefined) {
      policy = this.#rules.find((rule) => rule.match(channel))?.policy ?? this.#fallback;
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(channel, policy);
    }
    return policy;
  }
}
