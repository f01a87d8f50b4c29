import type { EnginePresence, PresenceEvent, PresenceListener } from '@tidings/engine';

/**
 * One engine presence stream (a channel or a pattern) shared by every subscription of this process
 * that listens to it, as a Feed shares a message stream.
 */
export class PresenceFeed {
  readonly listeners = new Set<PresenceListener>();
  /** Resolves once the engine stream is live. */
  readonly ready: Promise<void>;
  readonly #report: (error: unknown) => void;
  #stop: (() => void) | undefined;
  #closed = false;

  constructor(presence: EnginePresence, key: string, report: (error: unknown) => void) {
    this.#report = report;
    this.ready = presence.subscribe(key, this.#deliver).then((stop) => {
      if (this.#closed) stop();
      else this.#stop = stop;
    });
    this.ready.catch(() => {});
  }

  readonly #deliver = this.#deliverEvent.bind(this);

  #deliverEvent(event: PresenceEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  close(): void {
    this.#closed = true;
    this.#stop?.();
  }
}
