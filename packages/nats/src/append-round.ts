import type { PublishRequest, PublishResult } from '@tidings/engine';

/** One publish waiting in a round, with its caller's promise. */
export interface RoundEntry {
  readonly request: PublishRequest;
  /** Its idempotency key as a JetStream message id, if it has one. */
  readonly msgId: string | undefined;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
}

// A round's data stays well under NATS's default max_payload per message times a few hundred messages:
// bounded so one round's acknowledgements all come back within the request timeout.
const MAX_ROUND_BYTES = 1 << 20;

/**
 * Publishes to one channel that were queued behind the channel's earlier operations, to be appended
 * together once their turn comes: the first conditional on the channel's last stream sequence, each
 * next one chained to the one before it (see NatsEngine), all sent before any acknowledgement.
 *
 * A round takes publishes until it is sealed (its turn came), until it holds `cap` of them, or until a
 * publish with an idempotency key joins: a repeated key is answered as a duplicate without storing
 * anything, so no append can be chained to it. Conditional publishes (`ifOffset`) never join one.
 */
export class AppendRound {
  readonly entries: RoundEntry[] = [];
  readonly #cap: number;
  #bytes = 0;
  #open = true;

  constructor(cap: number) {
    this.#cap = cap;
  }

  accepts(request: PublishRequest): boolean {
    return (
      this.#open &&
      request.ifOffset === undefined &&
      this.entries.length < this.#cap &&
      this.#bytes + request.data.length <= MAX_ROUND_BYTES
    );
  }

  add(request: PublishRequest, msgId: string | undefined): Promise<PublishResult> {
    this.#bytes += request.data.length;
    if (msgId !== undefined) this.#open = false;
    return new Promise((resolve, reject) => {
      this.entries.push({ request, msgId, resolve, reject });
    });
  }

  /** Its turn came: later publishes start the next round. */
  seal(): void {
    this.#open = false;
  }
}
