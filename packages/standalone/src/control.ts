import { randomUUID } from 'node:crypto';
import { type ErrorCode, errorAction } from '@tidings/protocol';
import type { DisconnectOptions, Hub, Subscription, TidingsServer } from '@tidings/server';
import type { Logger } from './logger.js';
import { CONTROL_CHANNEL } from './reserved.js';

interface DisconnectCommand {
  type: 'disconnect';
  user: string;
  code: ErrorCode;
  reason: string;
  reconnect: boolean;
  /** The process that sent it, which has acted already. */
  from: string;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * Commands that must reach every server process on the engine, not only the one the API request hit:
 * today, disconnecting a user. They travel as messages on the reserved control channel, which no client
 * can read or write.
 */
export class Control {
  readonly #id = randomUUID();
  readonly #hub: Hub;
  readonly #tidings: TidingsServer;
  readonly #logger: Logger;
  #subscription: Subscription | undefined;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;
  #closed = false;

  constructor(hub: Hub, tidings: TidingsServer, logger: Logger) {
    this.#hub = hub;
    this.#tidings = tidings;
    this.#logger = logger;
    this.#listen();
  }

  /**
   * Disconnects the user's connections on this process at once, and on the others when the command
   * reaches them. Resolves with the count on this process, once the command is stored.
   */
  async disconnect(
    user: string,
    options: Required<Omit<DisconnectOptions, 'reconnect'>> & { reconnect?: boolean },
  ): Promise<number> {
    const reconnect = options.reconnect ?? errorAction(options.code) !== 'fatal';
    const local = this.#tidings.disconnect(user, { code: options.code, reason: options.reason, reconnect });
    const command: DisconnectCommand = {
      type: 'disconnect',
      user,
      code: options.code,
      reason: options.reason,
      reconnect,
      from: this.#id,
    };
    await this.#hub.publish(CONTROL_CHANNEL, command);
    return local;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#subscription?.unsubscribe();
  }

  #listen(): void {
    if (this.#closed || this.#hub.closed) return;
    const subscription = this.#hub.subscribe<DisconnectCommand>(CONTROL_CHANNEL, (message) =>
      this.#apply(message.data),
    );
    this.#subscription = subscription;
    // The engine may be down at start: keep trying, or other processes' disconnects would never arrive.
    subscription.ready.then(
      () => {
        this.#retryMs = RETRY_MIN_MS;
      },
      (error: unknown) => {
        if (this.#closed) return;
        const code = (error as { code?: string }).code;
        this.#logger.warn({ code, retryMs: this.#retryMs }, 'control channel unavailable; retrying');
        this.#retry = setTimeout(() => this.#listen(), this.#retryMs);
        this.#retry.unref();
        this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
      },
    );
  }

  #apply(command: DisconnectCommand): void {
    if (command?.type !== 'disconnect' || command.from === this.#id || typeof command.user !== 'string')
      return;
    const count = this.#tidings.disconnect(command.user, {
      code: command.code,
      reason: command.reason,
      reconnect: command.reconnect === true,
    });
    if (count > 0) this.#logger.info({ user: command.user, count }, 'disconnected by another process');
  }
}
