import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';

export const API_KEY_HEADER = 'x-api-key';

/**
 * Checks the API key of a backend request: `Authorization: apikey <key>` or `X-API-Key: <key>`.
 * Compared as digests in constant time, so the answer's timing says nothing about the key.
 */
export class ApiKey {
  readonly #digest: Buffer | undefined;

  constructor(key: string | undefined) {
    this.#digest = key === undefined ? undefined : digest(key);
  }

  /** Throws UNAUTHORIZED unless the request carries the key. */
  check(request: IncomingMessage): void {
    if (this.#digest === undefined) {
      throw new TidingsError(ErrorCode.unauthorized, 'the HTTP API is off: no apiKey is configured');
    }
    const given = requestKey(request);
    if (given === undefined) {
      throw new TidingsError(
        ErrorCode.unauthorized,
        'missing API key: send "Authorization: apikey <key>" or "X-API-Key: <key>"',
      );
    }
    if (!timingSafeEqual(digest(given), this.#digest)) {
      throw new TidingsError(ErrorCode.unauthorized, 'invalid API key');
    }
  }
}

function requestKey(request: IncomingMessage): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^apikey\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const header = request.headers[API_KEY_HEADER];
  return typeof header === 'string' && header !== '' ? header.trim() : undefined;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
