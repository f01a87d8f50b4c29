import type { Backoff } from './backoff.js';

/** Runs a callback after a backoff delay that grows with each scheduled try, until `reset`. */
export class RetryTimer {
  readonly #callback: () => void;
  readonly #delay: Backoff;
  #tries = 0;
  #id: ReturnType<typeof setTimeout> | undefined;

  constructor(callback: () => void, delay: Backoff) {
    this.#callback = callback;
    this.#delay = delay;
  }

  schedule(): void {
    this.cancel();
    this.#id = setTimeout(
      () => {
        this.#id = undefined;
        this.#callback();
      },
      this.#delay(++this.#tries),
    );
  }

  /** Cancels a scheduled try and starts counting from the first again (after a success). */
  reset(): void {
    this.#tries = 0;
    this.cancel();
  }

  cancel(): void {
    clearTimeout(this.#id);
    this.#id = undefined;
  }
}
