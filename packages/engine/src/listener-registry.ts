import { isPattern, patternMatcher } from '@tidings/protocol';

interface PatternEntry<L> {
  readonly matches: (channel: string) => boolean;
  readonly listener: L;
}

/**
 * Listeners by channel name and by pattern, for the in-memory engine's messages and presence events.
 * Lists are replaced, never mutated, on add and remove: delivery iterates them without a copy, and a
 * listener that adds or removes one during delivery does not disturb the loop.
 */
export class ListenerRegistry<L> {
  readonly #exact = new Map<string, readonly L[]>();
  #patterns: readonly PatternEntry<L>[] = [];

  /** Adds a listener; `lastLeft` runs when the last listener of an exact channel goes. Returns remove. */
  add(channelOrPattern: string, listener: L, lastLeft?: (channel: string) => void): () => void {
    let active = true;
    if (!isPattern(channelOrPattern)) {
      const name = channelOrPattern;
      this.#exact.set(name, [...(this.#exact.get(name) ?? []), listener]);
      return () => {
        if (!active) return;
        active = false;
        const rest = (this.#exact.get(name) ?? []).filter((l) => l !== listener);
        if (rest.length > 0) this.#exact.set(name, rest);
        else {
          this.#exact.delete(name);
          lastLeft?.(name);
        }
      };
    }
    const entry: PatternEntry<L> = { matches: patternMatcher(channelOrPattern), listener };
    this.#patterns = [...this.#patterns, entry];
    return () => {
      if (!active) return;
      active = false;
      this.#patterns = this.#patterns.filter((p) => p !== entry);
    };
  }

  /** Whether a channel has a listener of its own (not through a pattern). */
  has(channel: string): boolean {
    return this.#exact.has(channel);
  }

  /**
   * Calls `deliver(listener, item)` for each listener of the channel: its own first, then the matching
   * patterns'. The item is passed along so a caller on a hot path needs no closure per call.
   */
  forEach<T>(channel: string, deliver: (listener: L, item: T) => void, item: T): void {
    const exact = this.#exact.get(channel);
    if (exact !== undefined) for (const listener of exact) deliver(listener, item);
    const patterns = this.#patterns;
    for (let i = 0; i < patterns.length; i++) {
      const entry = patterns[i] as PatternEntry<L>;
      if (entry.matches(channel)) deliver(entry.listener, item);
    }
  }

  clear(): void {
    this.#exact.clear();
    this.#patterns = [];
  }
}
