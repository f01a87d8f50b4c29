import { DeferredRelease } from './release.js';

/**
 * The plumbing React's `useSyncExternalStore` needs from a store kept outside React, shared by the
 * channel and presence feeds: a listener set, the current snapshot, and a subscription to the server
 * that is opened when React first listens and closed a microtask after the last listener left (see
 * DeferredRelease: StrictMode's double mount keeps one subscription). A subclass says how to `open` and
 * `close` its subscription and `publish`es each new snapshot.
 */
export abstract class ExternalStore<S> {
  #snapshot: S;
  readonly #initial: S;
  readonly #listeners = new Set<() => void>();
  readonly #release: DeferredRelease;

  /** `initial` is the first snapshot, and the one the server renders. */
  protected constructor(initial: S) {
    this.#snapshot = initial;
    this.#initial = initial;
    // Called only once React listens, after the subclass's constructor has run.
    this.#release = new DeferredRelease(
      () => this.open(),
      () => this.close(),
    );
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    this.#release.add();
    return () => {
      this.#listeners.delete(listener);
      this.#release.remove();
    };
  };

  readonly getSnapshot = (): S => this.#snapshot;

  /** What the server renders, and what hydration starts from: nothing received yet. */
  readonly getServerSnapshot = (): S => this.#initial;

  /** The first listener came (and no release was pending): subscribe. */
  protected abstract open(): void;

  /** The last listener left and did not come back within the task: unsubscribe. */
  protected abstract close(): void;

  /** Makes `snapshot` the current one and tells every listener. */
  protected publish(snapshot: S): void {
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) listener();
  }
}
