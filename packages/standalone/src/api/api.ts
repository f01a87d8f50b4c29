import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  type AckFrame,
  ContentType,
  ErrorCode,
  errorFrame,
  FrameType,
  Header,
  httpStatus,
  isTidingsError,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';
import type { Hub, Published, TidingsServer } from '@tidings/server';
import type { Control } from '../control.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../ops/metrics.js';
import { isReserved } from '../reserved.js';
import { ApiKey } from './api-key.js';
import { readJson } from './read-json.js';
import {
  apiChannel,
  apiPattern,
  broadcastBody,
  CHANNELS_LIMIT,
  disconnectBody,
  HISTORY_LIMIT,
  parseBody,
  parseLimit,
  parseSince,
  publishBody,
  stateBody,
} from './requests.js';

export interface ApiOptions {
  hub: Hub;
  tidings: TidingsServer;
  /** The channels (or patterns) with presence. */
  presence: readonly string[];
  control: Control;
  apiKey: string | undefined;
  maxBodyBytes: number;
  timeoutMs: number;
  logger: Logger;
  metrics: Metrics;
}

type Handler = (request: IncomingMessage, query: URLSearchParams) => Promise<unknown>;

const NO_STORE = { 'cache-control': 'no-store' };
/**
 * The idempotency scope of the API's publishes: apart from every client's (`user:…`, `address:…`) and
 * from the server code's own, so a key is the API caller's whoever used it elsewhere first.
 */
const API_PUBLISHER = 'api';

/**
 * The HTTP API for the app's backend, in any language: publish, broadcast, set state, read history,
 * disconnect users, list channels. Every request carries the API key. Answers are JSON; errors are
 * `{"type":"error","code","message"}` with the status of their code, as on the client endpoints.
 */
export class Api {
  readonly #options: ApiOptions;
  readonly #key: ApiKey;
  readonly #routes: Record<string, { method: 'GET' | 'POST'; handle: Handler }>;
  readonly #hasPresence: ((channel: string) => boolean)[];

  constructor(options: ApiOptions) {
    this.#options = options;
    this.#key = new ApiKey(options.apiKey);
    this.#routes = {
      '/publish': { method: 'POST', handle: (request) => this.#publish(request) },
      '/broadcast': { method: 'POST', handle: (request) => this.#broadcast(request) },
      '/state': { method: 'POST', handle: (request) => this.#state(request) },
      '/history': { method: 'GET', handle: (_, query) => this.#history(query) },
      '/disconnect': { method: 'POST', handle: (request) => this.#disconnect(request) },
      '/channels': { method: 'GET', handle: (_, query) => this.#channels(query) },
      '/presence': { method: 'GET', handle: (_, query) => this.#presence(query) },
    };
    this.#hasPresence = options.presence.map(patternMatcher);
  }

  /** Serves one request whose path is under the API path; `endpoint` is the rest of the path. */
  async handle(request: IncomingMessage, response: ServerResponse, endpoint: string, query: URLSearchParams) {
    const started = performance.now();
    const route = this.#routes[endpoint];
    const label = route === undefined ? 'unknown' : endpoint.slice(1);
    let status = 200;
    try {
      // The key first: without it, not even which endpoints exist is told.
      this.#key.check(request);
      if (route === undefined) {
        status = 404;
        throw new TidingsError(
          ErrorCode.invalidField,
          `no such API endpoint: ${endpoint.slice(0, 100) || '/'}`,
        );
      }
      if (request.method !== route.method) {
        status = 405;
        throw new TidingsError(ErrorCode.invalidField, `${endpoint} takes ${route.method}`);
      }
      const body = await route.handle(request, query);
      send(response, 200, JSON.stringify(body));
    } catch (cause) {
      const error = this.#toError(cause, endpoint);
      if (status === 200) status = httpStatus(error.code);
      this.#options.metrics.errors.inc({ code: error.code });
      const headers: OutgoingHttpHeaders = {};
      if (status === 405 && route) headers.allow = route.method;
      // An oversized body is left unread: close the connection rather than drain it.
      if (error.code === ErrorCode.frameTooLarge) headers.connection = 'close';
      send(response, status, JSON.stringify(errorFrame(error)), headers);
    } finally {
      this.#options.metrics.apiRequests.inc({ endpoint: label, status });
      this.#options.logger.debug(
        { endpoint: label, status, ms: Math.round(performance.now() - started) },
        'api request',
      );
    }
  }

  async #body(request: IncomingMessage): Promise<unknown> {
    return readJson(request, this.#options.maxBodyBytes, this.#options.timeoutMs);
  }

  async #publish(request: IncomingMessage): Promise<AckFrame> {
    const body = parseBody(publishBody, await this.#body(request));
    const key = idempotencyKey(request, body.key);
    const published = await this.#options.hub.publish(apiChannel(body.channel), body.data, {
      // The API's keys are its own: a client that used the same key first takes nothing from it.
      publisher: API_PUBLISHER,
      ...(key !== undefined && { id: key }),
      ...(body.ttl !== undefined && { ttl: body.ttl }),
      ...(body.ifOffset !== undefined && { ifOffset: body.ifOffset }),
    });
    return ack(published);
  }

  async #broadcast(request: IncomingMessage): Promise<{ results: AckFrame[] }> {
    const body = parseBody(broadcastBody, await this.#body(request));
    const { hub } = this.#options;
    let channels: string[];
    if (body.pattern !== undefined) {
      // Listed here rather than by hub.broadcast(pattern), so the reserved channels stay out of it.
      const all = await hub.engine.channels(apiPattern(body.pattern));
      channels = all.filter((channel) => !isReserved(channel));
    } else channels = body.channels!.map(apiChannel);
    const key = idempotencyKey(request, body.key);
    const published = await hub.broadcast(channels, body.data, {
      publisher: API_PUBLISHER,
      ...(key !== undefined && { id: key }),
      ...(body.ttl !== undefined && { ttl: body.ttl }),
    });
    return { results: published.map(ack) };
  }

  async #state(request: IncomingMessage) {
    const body = parseBody(stateBody, await this.#body(request));
    const channel = apiChannel(body.channel);
    const position = await this.#options.hub.setState(channel, body.data);
    return { channel, epoch: position.epoch, offset: position.offset };
  }

  async #history(query: URLSearchParams) {
    const channel = apiChannel(required(query, 'channel'));
    const since = parseSince(query.get('since'));
    const limit = parseLimit(query.get('limit'), HISTORY_LIMIT.fallback, HISTORY_LIMIT.max);
    const history = await this.#options.hub.history(channel, { limit, ...(since && { since }) });
    return { channel, ...history };
  }

  async #disconnect(request: IncomingMessage) {
    const body = parseBody(disconnectBody, await this.#body(request));
    const disconnected = await this.#options.control.disconnect(body.user, {
      code: body.code ?? ErrorCode.forbidden,
      reason: body.reason ?? 'disconnected by the server',
      ...(body.reconnect !== undefined && { reconnect: body.reconnect }),
    });
    return { user: body.user, disconnected };
  }

  async #channels(query: URLSearchParams) {
    const pattern = apiPattern(query.get('pattern') || '>');
    const limit = parseLimit(query.get('limit'), CHANNELS_LIMIT.fallback, CHANNELS_LIMIT.max);
    const { hub } = this.#options;
    const names = (await hub.engine.channels(pattern)).filter((channel) => !isReserved(channel)).sort();
    const channels = names.slice(0, limit).map((channel) => ({
      channel,
      subscribers: hub.subscriberCount(channel),
    }));
    return names.length > limit ? { channels, truncated: true } : { channels };
  }

  async #presence(query: URLSearchParams) {
    const channel = apiChannel(required(query, 'channel'));
    if (!this.#hasPresence.some((matches) => matches(channel))) {
      throw new TidingsError(
        ErrorCode.unsupported,
        `${channel} has no presence: list it in the "presence" setting`,
      );
    }
    return { channel, members: await this.#options.hub.presence(channel) };
  }

  #toError(cause: unknown, endpoint: string): TidingsError {
    if (isTidingsError(cause)) return cause;
    this.#options.logger.error({ err: cause, endpoint }, 'api request failed');
    return new TidingsError(ErrorCode.internal, 'internal error');
  }
}

function required(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (value === null || value === '') {
    throw new TidingsError(ErrorCode.invalidField, `${name}: required, e.g. ?${name}=…`, { field: name });
  }
  return value;
}

function idempotencyKey(request: IncomingMessage, fromBody: string | undefined): string | undefined {
  const header = request.headers[Header.idempotencyKey];
  if (typeof header !== 'string') return fromBody;
  if (fromBody !== undefined && fromBody !== header) {
    throw new TidingsError(ErrorCode.invalidField, 'the body "key" and the Idempotency-Key header differ', {
      field: 'key',
    });
  }
  if (header.length === 0 || header.length > 128) {
    throw new TidingsError(ErrorCode.invalidField, 'Idempotency-Key: expected 1-128 characters', {
      field: 'key',
    });
  }
  return header;
}

function ack(published: Published): AckFrame {
  const { channel, epoch, offset, ts, duplicate } = published;
  const frame: AckFrame = { type: FrameType.ack, channel, epoch, offset, ts };
  if (duplicate) frame.duplicate = true;
  return frame;
}

function send(
  response: ServerResponse,
  status: number,
  json: string,
  headers: OutgoingHttpHeaders = {},
): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    ...NO_STORE,
    ...headers,
    'content-type': `${ContentType.json}; charset=utf-8`,
    'content-length': Buffer.byteLength(json),
  });
  response.end(json);
}
