import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TransportName } from '@tidings/protocol';
import type { Authenticate, Authorization, Identity } from '../auth.js';
import type { OriginPolicy } from '../http/cors.js';
import type { Hub } from '../hub.js';
import type { ConnectionCounter, Limits, RateLimiters } from '../limits.js';
import type { ServerObserver } from '../observer.js';
import type { Session } from '../session.js';
import type { WriteBatcher } from './flush.js';

/** What the server asks of a connection's session: who it is, whether it is over, how to end it. */
export type ConnectionSession = Pick<Session, 'identity' | 'ended' | 'end'>;

/** One open client connection, as the server sees it: for heartbeats, stats and shutdown. */
export interface Connection {
  readonly transport: TransportName;
  readonly session: ConnectionSession;
  /** Called every half heartbeat: ping an idle connection, drop a dead one. */
  heartbeat(): void;
  /** Graceful shutdown: tell the client to come back elsewhere, then close. */
  shutdown(): void;
  /** Closes at once, without a word. */
  destroy(): void;
}

/** What the transports share: the server's configuration and its registry of connections. */
export interface ServerContext {
  readonly hub: Hub;
  readonly limits: Limits;
  readonly heartbeatMs: number;
  /** Flushes the streaming connections' corked output, after `writeDelayMs`. */
  readonly writes: WriteBatcher;
  readonly authenticate: Authenticate | undefined;
  readonly hooks: Authorization;
  readonly origins: OriginPolicy;
  /** Keyed by `clientKey`. */
  readonly connectionsPerIdentity: ConnectionCounter;
  /** Keyed by `clientKey`: one bucket for all the connections and HTTP publishes of a client. */
  readonly publishLimiters: RateLimiters;
  /**
   * Who a client is for limits and idempotency scopes: `user:<id>`, or for an anonymous identity
   * `address:<address>` (IPv6: its /64), the address as trusted proxies tell it.
   */
  clientKey(identity: Identity, request: IncomingMessage): string;
  /** True once close() was called: new connections are refused with SHUTTING_DOWN. */
  readonly closing: boolean;
  readonly observer: ServerObserver | undefined;
  /** Whether the channel has presence (the server's `presence` option names it). */
  hasPresence(channel: string): boolean;
  /** Answers an HTTP request with an `error` frame and the status of its code, and tells the observer. */
  sendError(res: ServerResponse, cause: unknown, headers?: OutgoingHttpHeaders): void;
  open(connection: Connection): void;
  closed(connection: Connection): void;
}
