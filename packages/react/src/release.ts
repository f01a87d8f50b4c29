/**
 * What a store does when React stops listening: release its subscription a microtask later unless a
 * listener came back first. StrictMode runs every effect's cleanup and then the effect again in one
 * task, so the subscription lives through that and the channel sees no unsubscribe/subscribe at all.
 */
export class DeferredRelease {
  #listeners = 0;
  #pending = false;
  readonly #acquire: () => void;
  readonly #release: () => void;

  constructor(acquire: () => void, release: () => void) {
    this.#acquire = acquire;
    this.#release = release;
  }

  /** A listener came; the first one acquires (unless a release is still pending: then nothing happens). */
  add(): void {
    this.#listeners++;
    if (this.#listeners > 1) return;
    if (this.#pending) this.#pending = false;
    else this.#acquire();
  }

  /** A listener left; after the last one, release once the current task's effects have run. */
  remove(): void {
    this.#listeners--;
    if (this.#listeners > 0 || this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => {
      if (!this.#pending) return;
      this.#pending = false;
      this.#release();
    });
  }
}
