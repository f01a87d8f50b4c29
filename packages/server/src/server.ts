import type { Server as HttpServer, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  assertChannelOrPattern,
  DEFAULT_MOUNT_PATH,
  Defaults,
  Endpoint,
  ErrorCode,
  patternMatcher,
  TidingsError,
  type TransportName,
} from '@tidings/protocol';
import { type Authenticate, type Authorization, checkGrant, type Identity } from './auth.js';
import { addressKey, checkTrustProxy, clientAddress, type TrustProxy } from './http/client-address.js';
import { OriginPolicy, type Origins } from './http/cors.js';
import { splitUrl } from './http/query.js';
import { NO_STORE, sendError, sendJson } from './http/respond.js';
import { createHub, type Hub } from './hub.js';
import { ConnectionCounter, type Limits, RateLimiters, resolveLimits } from './limits.js';
import type { ServerObserver } from './observer.js';
import type { Connection, ServerContext } from './transports/context.js';
import { WriteBatcher } from './transports/flush.js';
import { error as errorFrame, toTidingsError } from './transports/frames.js';
import { serveHistory } from './transports/history.js';
import { servePoll } from './transports/poll.js';
import { servePresence } from './transports/presence.js';
import { servePublish } from './transports/publish.js';
import { serveSse } from './transports/sse.js';
import { serveNdjson } from './transports/stream.js';
import { WebSocketTransport } from './transports/websocket.js';

export interface TidingsServerOptions {
  /** Default: a new hub on the in-memory engine, with `limits.maxMessageBytes`. */
  hub?: Hub;
  /** Mount path. Default `/tidings`. */
  path?: string;
  /** Who a request is. Default: everyone is `{ id: 'anonymous' }`. */
  authenticate?: Authenticate;
  /**
   * Where clients may subscribe when their identity has no `read` patterns: `true` (default) every
   * channel, `false` none, or a list of channels and patterns (`['public.>']`). An identity's own `read`
   * patterns replace this for it.
   */
  subscribe?: boolean | string[];
  /**
   * Where clients may publish when their identity has no `write` patterns: `false` (default) nowhere,
   * `true` every channel, or a list of channels and patterns (`['chat.*']`). Closed by default, so a
   * server that only pushes cannot be written to by any page. An identity's own `write` patterns (from
   * `authenticate`, or a JWT's `channels.write` claim) replace this for it; `canPublish` runs after.
   */
  publish?: boolean | string[];
  /** Runs after the identity's `read` patterns (or the `subscribe` option) allowed the channel (or pattern). Default: allow. */
  canSubscribe?(identity: Identity, channel: string): boolean | Promise<boolean>;
  /** Runs after the identity's `write` patterns (or the `publish` option) allowed the channel, with the data to publish. Default: allow. */
  canPublish?(identity: Identity, channel: string, data: unknown): boolean | Promise<boolean>;
  /**
   * Browser origins allowed to connect (WebSocket `Origin` check) and to call the HTTP endpoints (CORS).
   * Default: the same origin only. A request without `Origin` is not from a web page and is allowed.
   */
  origins?: Origins;
  limits?: Partial<Limits>;
  /**
   * Proxies trusted to tell the client's address in `X-Forwarded-For`, which anonymous clients are
   * limited by: a hop count (`1`: one reverse proxy in front) or the proxies' addresses. Default: none,
   * the header is ignored (any client could write it) and the socket's address counts.
   */
  trustProxy?: TrustProxy;
  /** Ping an idle connection after this many ms. Default 25000. */
  heartbeatMs?: number;
  /**
   * Write batching for WebSocket, SSE and stream connections, ms (0 to 1000). A connection always
   * writes the frames of one event-loop turn together. With N > 0, one that wrote in the last N ms
   * holds its next frames and writes them together when N ms are up, so it makes about one write per
   * N ms at most, however many messages it receives: fewer syscalls and less server CPU per delivery,
   * for up to N ms more latency on connections that get messages closer together than N ms. A frame
   * after a quiet spell, the answer to a WebSocket request, a `disconnect` and output past 64 KiB (or
   * a quarter of `limits.maxBufferedBytes`) are not held. Default `DEFAULT_WRITE_DELAY_MS` (0: off).
   */
  writeDelayMs?: number;
  /** Told about deliveries, errors and disconnects, for metrics. */
  observer?: ServerObserver;
  /**
   * Channels (or patterns: `room.*`) with presence: each WebSocket, SSE or stream connection subscribed
   * to one is a member, its subscribers get `join`/`leave` frames, and `presence` requests answer for
   * it. Needs a hub whose engine has presence. Default: none.
   */
  presence?: string[];
}

export interface DisconnectOptions {
  /** The `disconnect` frame's code. Default FORBIDDEN. */
  code?: ErrorCode;
  reason?: string;
  /** Whether the client should come back. Default false: a disconnected user stays out until it reconnects on its own. */
  reconnect?: boolean;
}

export interface TidingsServer {
  readonly hub: Hub;
  /** node:http request handler: serves paths under the mount path and returns true; false (touching nothing) for others. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** node:http 'upgrade' handler: true if it took the socket (`<path>/ws`), false otherwise. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Serves the mount path on an http(s) server, leaving its other requests and upgrades to their listeners. Returns detach. */
  attach(server: HttpServer | HttpsServer): () => void;
  /**
   * Graceful shutdown: refuse new connections, tell every client `disconnect` SHUTTING_DOWN (reconnect),
   * end streams and long-polls, close sockets; cut what is left at the deadline (default 5000 ms).
   * Closes the hub only with `closeHub: true`.
   */
  close(options?: { deadlineMs?: number; closeHub?: boolean }): Promise<void>;
  /** Open connections by transport, for metrics. */
  stats(): { connections: Record<TransportName, number> };
  /**
   * Ends every open connection of this identity id (`disconnect` frame, then close) and returns how
   * many there were. It does not stop the identity from connecting again: revoke its credentials too.
   */
  disconnect(identityId: string, options?: DisconnectOptions): number;
}

const DEFAULT_DEADLINE_MS = 5_000;

/**
 * See `writeDelayMs`. Off: batching pays only once the delay exceeds the gap between two messages
 * of a connection (50 ms at 20 messages a second), which is latency a library should not add unasked.
 */
export const DEFAULT_WRITE_DELAY_MS = 0;

class Server implements TidingsServer, ServerContext {
  readonly hub: Hub;
  readonly limits: Limits;
  readonly heartbeatMs: number;
  readonly writes: WriteBatcher;
  readonly authenticate: Authenticate | undefined;
  readonly hooks: Authorization;
  readonly origins: OriginPolicy;
  readonly connectionsPerIdentity: ConnectionCounter;
  readonly publishLimiters: RateLimiters;
  readonly observer: ServerObserver | undefined;
  closing = false;
  readonly #presence: ((channel: string) => boolean)[];
  readonly #trustProxy: TrustProxy | undefined;
  #lastAddress = '';
  #lastAddressKey = '';

  readonly #path: string;
  readonly #websocket: WebSocketTransport;
  readonly #connections = new Set<Connection>();
  readonly #counts: Record<TransportName, number> = { websocket: 0, sse: 0, stream: 0, longpoll: 0, poll: 0 };
  readonly #ticker: NodeJS.Timeout;
  #drained: (() => void) | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: TidingsServerOptions) {
    this.limits = resolveLimits(options.limits);
    this.hub = options.hub ?? createHub({ maxMessageBytes: this.limits.maxMessageBytes });
    this.heartbeatMs = options.heartbeatMs ?? Defaults.heartbeatMs;
    if (!(this.heartbeatMs > 0))
      throw new TidingsError(ErrorCode.invalidField, 'heartbeatMs must be positive');
    this.writes = new WriteBatcher(
      options.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS,
      this.limits.maxBufferedBytes,
    );
    this.authenticate = options.authenticate;
    checkGrant(options.subscribe, 'subscribe');
    checkGrant(options.publish, 'publish');
    this.hooks = {
      subscribe: options.subscribe ?? true,
      publish: options.publish ?? false,
      canSubscribe: options.canSubscribe,
      canPublish: options.canPublish,
    };
    this.origins = new OriginPolicy(options.origins);
    checkTrustProxy(options.trustProxy);
    this.#trustProxy = options.trustProxy;
    this.connectionsPerIdentity = new ConnectionCounter(this.limits.maxConnectionsPerIdentity);
    this.publishLimiters = new RateLimiters(this.limits.publishRate);
    this.observer = options.observer;
    this.#presence = presencePatterns(options.presence, this.hub);
    this.#path = normalizePath(options.path ?? DEFAULT_MOUNT_PATH);
    this.#websocket = new WebSocketTransport(this);
    // One timer for every connection, at half the heartbeat: a connection pings after 1-2 quiet ticks.
    this.#ticker = setInterval(() => this.#tick(), this.heartbeatMs / 2);
    this.#ticker.unref();
  }

  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const { path, query } = splitUrl(req.url);
    const endpoint = this.#endpoint(path);
    if (endpoint === undefined) return false;
    this.#route(endpoint, req, res, query).catch((error: unknown) => {
      if (!res.headersSent) this.sendError(res, error);
      else res.destroy();
    });
    return true;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const { path, query } = splitUrl(req.url);
    if (this.#endpoint(path) !== Endpoint.websocket) return false;
    this.#websocket.upgrade(req, socket, head, query);
    return true;
  }

  attach(server: HttpServer | HttpsServer): () => void {
    const requestListeners = server.listeners('request') as ((...args: unknown[]) => void)[];
    const upgradeListeners = server.listeners('upgrade') as ((...args: unknown[]) => void)[];
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (this.handle(req, res)) return;
      if (requestListeners.length === 0) sendJson(res, 404, errorFrame(notFound(req.url)));
      for (const listener of requestListeners) listener.call(server, req, res);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.handleUpgrade(req, socket, head)) return;
      // With no other listener, Node would have dropped the socket itself.
      if (upgradeListeners.length === 0) socket.destroy();
      for (const listener of upgradeListeners) listener.call(server, req, socket, head);
    };
    server.removeAllListeners('request').on('request', onRequest);
    server.removeAllListeners('upgrade').on('upgrade', onUpgrade);
    return () => {
      server.off('request', onRequest).off('upgrade', onUpgrade);
      for (const listener of requestListeners) server.on('request', listener);
      for (const listener of upgradeListeners) server.on('upgrade', listener);
    };
  }

  close(options: { deadlineMs?: number; closeHub?: boolean } = {}): Promise<void> {
    this.#stopped ??= this.#shutdown(options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    return options.closeHub ? this.#stopped.then(() => this.hub.close()) : this.#stopped;
  }

  stats(): { connections: Record<TransportName, number> } {
    return { connections: { ...this.#counts } };
  }

  disconnect(identityId: string, options: DisconnectOptions = {}): number {
    const code = options.code ?? ErrorCode.forbidden;
    const reason = options.reason ?? 'disconnected by the server';
    let count = 0;
    for (const connection of [...this.#connections]) {
      const session = connection.session;
      if (session.ended || session.identity.id !== identityId) continue;
      session.end(code, reason, options.reconnect ?? false);
      count++;
    }
    return count;
  }

  clientKey(identity: Identity, request: IncomingMessage): string {
    if (!identity.anonymous) return `user:${identity.id}`;
    const address = addressKey(clientAddress(request, this.#trustProxy));
    // Each session keeps its key: clients behind one address (a proxy, a NAT) share one string.
    if (address !== this.#lastAddress) {
      this.#lastAddress = address;
      this.#lastAddressKey = `address:${address}`;
    }
    return this.#lastAddressKey;
  }

  hasPresence(channel: string): boolean {
    return this.#presence.some((matches) => matches(channel));
  }

  sendError(res: ServerResponse, cause: unknown, headers?: OutgoingHttpHeaders): void {
    const error = toTidingsError(cause);
    this.observer?.error?.(error.code);
    sendError(res, error, headers);
  }

  open(connection: Connection): void {
    this.#connections.add(connection);
    this.#counts[connection.transport]++;
  }

  closed(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    this.#counts[connection.transport]--;
    if (this.#connections.size === 0) this.#drained?.();
  }

  async #shutdown(deadlineMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.#ticker);
    const drained = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    for (const connection of [...this.#connections]) connection.shutdown();
    if (this.#connections.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    for (const connection of [...this.#connections]) connection.destroy();
    if (this.#connections.size > 0) await drained;
  }

  #tick(): void {
    for (const connection of this.#connections) connection.heartbeat();
    this.publishLimiters.sweep();
  }

  /** The endpoint a path names under the mount path (`''` for the mount path itself), or undefined. */
  #endpoint(path: string): string | undefined {
    if (!path.startsWith(this.#path)) return undefined;
    const rest = path.slice(this.#path.length);
    return rest === '' || rest.startsWith('/') ? rest : undefined;
  }

  async #route(
    endpoint: string,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<void> {
    if (!this.origins.allows(req)) {
      this.sendError(res, new TidingsError(ErrorCode.forbidden, 'origin not allowed'));
      return;
    }
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...NO_STORE, ...this.origins.preflightHeaders(req) }).end();
      return;
    }
    const expected = endpoint === Endpoint.publish ? 'POST' : 'GET';
    if (!ENDPOINTS.has(endpoint)) {
      sendJson(res, 404, errorFrame(notFound(req.url)), this.origins.headers(req));
      return;
    }
    if (method !== expected) {
      const error = new TidingsError(ErrorCode.invalidField, `${endpoint} takes ${expected}`);
      sendJson(res, 405, errorFrame(error), { ...this.origins.headers(req), allow: `${expected}, OPTIONS` });
      return;
    }
    switch (endpoint) {
      case Endpoint.sse:
        return serveSse(this, req, res, query);
      case Endpoint.stream:
        return serveNdjson(this, req, res, query);
      case Endpoint.longpoll:
        return servePoll(this, req, res, query, true);
      case Endpoint.poll:
        return servePoll(this, req, res, query, false);
      case Endpoint.publish:
        return servePublish(this, req, res, query);
      case Endpoint.presence:
        return servePresence(this, req, res, query);
      case Endpoint.history:
        return serveHistory(this, req, res, query);
      case Endpoint.websocket: {
        const error = new TidingsError(ErrorCode.invalidField, 'this endpoint needs a WebSocket upgrade');
        sendJson(res, 426, errorFrame(error), { ...this.origins.headers(req), upgrade: 'websocket' });
        return;
      }
    }
  }
}

const ENDPOINTS = new Set<string>(Object.values(Endpoint));

function notFound(url: string | undefined): TidingsError {
  return new TidingsError(ErrorCode.invalidField, `no such endpoint: ${splitUrl(url).path.slice(0, 200)}`);
}

/** The `presence` option as matchers; refused at once if the engine could not serve it. */
function presencePatterns(patterns: string[] | undefined, hub: Hub): ((channel: string) => boolean)[] {
  if (patterns === undefined || patterns.length === 0) return [];
  if (!Array.isArray(patterns)) throw new TidingsError(ErrorCode.invalidField, 'presence must be an array');
  for (const pattern of patterns) assertChannelOrPattern(pattern);
  if (hub.engine.presence === undefined) {
    throw new TidingsError(ErrorCode.unsupported, 'the presence option needs an engine with presence');
  }
  return patterns.map(patternMatcher);
}

function normalizePath(path: string): string {
  if (!path.startsWith('/')) {
    throw new TidingsError(ErrorCode.invalidField, `path must start with "/": ${JSON.stringify(path)}`);
  }
  return path.replace(/\/+$/, '');
}

export function createTidingsServer(options: TidingsServerOptions = {}): TidingsServer {
  return new Server(options);
}

/** Creates a Tidings server and attaches it to an http(s) server. */
export function attach(server: HttpServer | HttpsServer, options?: TidingsServerOptions): TidingsServer {
  const tidings = createTidingsServer(options);
  tidings.attach(server);
  return tidings;
}
