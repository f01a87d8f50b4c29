import { ErrorCode, isTidingsError, TidingsError } from '@tidings/protocol';
import type { Engine } from '@tidings/server';
import { HEALTH_CHANNEL } from '../reserved.js';

export interface HealthReport {
  status: 200 | 503;
  body: { status: 'ok' | 'unavailable' | 'draining'; code?: string; message?: string };
}

/** A load balancer waits a few seconds at most: the check answers well within that. */
const CHECK_TIMEOUT_MS = 1_500;

/**
 * `GET /healthz`: 200 while the engine answers a quick `ready()` and `position()`, 503 when it does
 * not, and 503 from the moment a shutdown starts, so a load balancer stops sending new clients.
 */
export class Health {
  draining = false;
  readonly #engine: Engine;
  readonly #timeoutMs: number;

  constructor(engine: Engine, timeoutMs = CHECK_TIMEOUT_MS) {
    this.#engine = engine;
    this.#timeoutMs = timeoutMs;
  }

  async check(): Promise<HealthReport> {
    if (this.draining) return { status: 503, body: { status: 'draining' } };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TidingsError(ErrorCode.timeout, `the engine did not answer within ${this.#timeoutMs} ms`),
          ),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([this.#probe(), timeout]);
      return { status: 200, body: { status: 'ok' } };
    } catch (error) {
      const code = isTidingsError(error) ? error.code : ErrorCode.engineUnavailable;
      const message = error instanceof Error ? error.message : String(error);
      return { status: 503, body: { status: 'unavailable', code, message } };
    } finally {
      clearTimeout(timer);
    }
  }

  async #probe(): Promise<void> {
    await this.#engine.ready?.();
    await this.#engine.position(HEALTH_CHANNEL);
  }
}
