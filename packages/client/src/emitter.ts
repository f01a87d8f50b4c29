/** Rethrows outside the caller's stack: a throwing app handler is reported but never breaks delivery. */
export function rethrow(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}

/** A minimal typed event emitter whose `on` returns the matching `off`. */
export class Emitter<Events> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(type: K, listener: (value: Events[K]) => void): () => void {
    const set = this.#listeners.get(type) ?? new Set();
    this.#listeners.set(type, set);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Whether anyone listens to `type`: what nobody hears may need saying another way. */
  protected hasListener(type: keyof Events): boolean {
    return (this.#listeners.get(type)?.size ?? 0) > 0;
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        (listener as (value: Events[K]) => void)(value);
      } catch (error) {
        rethrow(error);
      }
    }
  }
}
