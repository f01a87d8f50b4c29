import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Header } from '@tidings/protocol';

/** Which browser origins may connect: a list, every origin ('*'), or a predicate. */
export type Origins = string[] | '*' | ((origin: string) => boolean);

const ALLOW_HEADERS = ['authorization', 'content-type', Header.idempotencyKey, Header.lastEventId].join(', ');
const PREFLIGHT_MAX_AGE_S = '600';
/** A cross-origin page's script may read the publish endpoint's limits. */
const EXPOSE = { 'access-control-expose-headers': Header.limits } as const;

/**
 * The Origin check of every endpoint and the CORS headers of the HTTP ones. A request without an
 * `Origin` header comes from something that is not a browser page and is allowed: the check exists
 * to stop other sites from using a visitor's cookies (cross-site WebSocket hijacking, form posts).
 */
export class OriginPolicy {
  readonly #allowed: ((origin: string) => boolean) | undefined;
  readonly #any: boolean;

  constructor(origins: Origins | undefined) {
    this.#any = origins === '*';
    if (typeof origins === 'function') this.#allowed = origins;
    else if (Array.isArray(origins)) {
      const set = new Set(origins.map((origin) => origin.toLowerCase().replace(/\/$/, '')));
      this.#allowed = (origin) => set.has(origin.toLowerCase());
    }
  }

  /** True when a request may be served: no Origin, the same origin, or an allowed one. */
  allows(request: IncomingMessage): boolean {
    const origin = request.headers.origin;
    return origin === undefined || sameOrigin(origin, request.headers.host) || this.#crossAllowed(origin);
  }

  /** The CORS response headers for this request: none unless it is cross-origin and allowed. */
  headers(request: IncomingMessage): OutgoingHttpHeaders | undefined {
    const origin = request.headers.origin;
    if (origin === undefined || sameOrigin(origin, request.headers.host) || !this.#crossAllowed(origin)) {
      return undefined;
    }
    // A wildcard server never lends a visitor's cookies to every site; a listed origin may use them.
    if (this.#any) return { 'access-control-allow-origin': '*', ...EXPOSE };
    return {
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
      ...EXPOSE,
    };
  }

  /** Headers of the answer to an allowed `OPTIONS` preflight. */
  preflightHeaders(request: IncomingMessage): OutgoingHttpHeaders {
    return {
      ...this.headers(request),
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': ALLOW_HEADERS,
      'access-control-max-age': PREFLIGHT_MAX_AGE_S,
    };
  }

  #crossAllowed(origin: string): boolean {
    if (this.#any) return true;
    return this.#allowed?.(origin) === true;
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
