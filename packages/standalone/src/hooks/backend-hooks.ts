import { ErrorCode, isChannelName, isPattern, isTidingsError, TidingsError } from '@tidings/protocol';
import type { Identity } from '@tidings/server';
import { z } from 'zod';
import type { HooksConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../ops/metrics.js';

export type HookKind = 'connect' | 'subscribe' | 'publish';

/** What the app's backend decided. */
export interface HookAnswer {
  allow: boolean;
  /** From the connect hook only: who the client is. */
  identity?: Identity;
}

/** The header that tells the backend which hook is calling, for one URL serving all three. */
export const HOOK_HEADER = 'x-tidings-hook';
/** A backend's answer is a small JSON object; anything longer is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;

const channelOrPattern = z.string().refine((text) => isChannelName(text) || isPattern(text));

const identitySchema = z.object({
  id: z.string().min(1).max(256),
  expiresAt: z.number().int().positive().optional(),
  read: z.array(channelOrPattern).optional(),
  write: z.array(channelOrPattern).optional(),
  info: z.record(z.string(), z.unknown()).optional(),
});

const answerSchema = z.object({ allow: z.boolean(), identity: identitySchema.optional() });

/**
 * Calls the app's backend (any language) to decide, as Centrifugo's proxies do: `POST <url>` with a
 * JSON body, `200 {"allow": true}` lets the request through, `401`/`403` or `{"allow": false}` refuses
 * it. A timeout, a 5xx, an unreachable backend or an unreadable answer is a failure, not a refusal:
 * it rejects with TIMEOUT, ENGINE_UNAVAILABLE or INTERNAL, and the caller applies `failOpen`.
 */
export class BackendHooks {
  readonly #config: HooksConfig;
  readonly #logger: Logger;
  readonly #metrics: Metrics;

  constructor(config: HooksConfig, logger: Logger, metrics: Metrics) {
    this.#config = config;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  get failOpen(): boolean {
    return this.#config.failOpen;
  }

  has(kind: HookKind): boolean {
    return this.#config[kind] !== undefined;
  }

  async call(kind: HookKind, body: Record<string, unknown>): Promise<HookAnswer> {
    const url = this.#config[kind];
    if (url === undefined) return { allow: true };
    const end = this.#metrics.hookLatency.startTimer({ hook: kind });
    try {
      const answer = await this.#request(url, kind, body);
      this.#metrics.hookCalls.inc({ hook: kind, outcome: answer.allow ? 'allow' : 'deny' });
      return answer;
    } catch (cause) {
      const error = isTidingsError(cause)
        ? cause
        : new TidingsError(ErrorCode.internal, `the ${kind} hook failed`, undefined, { cause });
      this.#metrics.hookCalls.inc({ hook: kind, outcome: error.code });
      this.#logger.warn(
        { hook: kind, code: error.code, failOpen: this.#config.failOpen },
        `${kind} hook failed: ${error.message}`,
      );
      throw error;
    } finally {
      end();
    }
  }

  async #request(url: string, kind: HookKind, body: Record<string, unknown>): Promise<HookAnswer> {
    const timeoutMs = this.#config.timeoutMs;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { ...this.#config.headers, 'content-type': 'application/json', [HOOK_HEADER]: kind },
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw failure(error, kind, timeoutMs);
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      return { allow: false };
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new TidingsError(
        ErrorCode.engineUnavailable,
        `the ${kind} hook answered HTTP ${response.status}`,
      );
    }
    let text: string;
    try {
      text = await readLimited(response);
    } catch (error) {
      throw failure(error, kind, timeoutMs);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TidingsError(ErrorCode.internal, `the ${kind} hook answered 200 without a JSON body`);
    }
    const answer = answerSchema.safeParse(parsed);
    if (!answer.success) {
      const issue = answer.error.issues[0];
      throw new TidingsError(
        ErrorCode.internal,
        `the ${kind} hook answered an invalid body at "${issue?.path.join('.') || '(root)'}": ${issue?.message}; expected {"allow": boolean, "identity"?: {"id": string, …}}`,
      );
    }
    const { allow, identity } = answer.data;
    return identity !== undefined && kind === 'connect' ? { allow, identity } : { allow };
  }
}

function failure(error: unknown, kind: HookKind, timeoutMs: number): TidingsError {
  if (isTidingsError(error)) return error;
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new TidingsError(
      ErrorCode.timeout,
      `the ${kind} hook did not answer within ${timeoutMs} ms`,
      undefined,
      {
        cause: error,
      },
    );
  }
  // fetch says "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, …) in its cause.
  const reason =
    ((error as { cause?: { code?: string } } | undefined)?.cause?.code ?? (error as Error)?.message) ||
    'error';
  return new TidingsError(
    ErrorCode.engineUnavailable,
    `the ${kind} hook is unreachable (${reason})`,
    undefined,
    {
      cause: error,
    },
  );
}

async function readLimited(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new TidingsError(ErrorCode.internal, `hook answer larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
