/** Every wire string and default of the Tidings protocol, shared by server and client. */

export const PROTOCOL_VERSION = 1;

/**
 * Frame `type` values. Client → server: subscribe, unsubscribe, publish, refresh, pong, presence, history.
 * Server → client: the rest, and presence and history (the replies).
 */
export const FrameType = {
  welcome: 'welcome',
  subscribe: 'subscribe',
  subscribed: 'subscribed',
  unsubscribe: 'unsubscribe',
  unsubscribed: 'unsubscribed',
  publish: 'publish',
  ack: 'ack',
  message: 'message',
  snapshot: 'snapshot',
  reset: 'reset',
  error: 'error',
  ping: 'ping',
  pong: 'pong',
  refresh: 'refresh',
  refreshed: 'refreshed',
  disconnect: 'disconnect',
  presence: 'presence',
  join: 'join',
  leave: 'leave',
  history: 'history',
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Where a new subscription starts. A `Position` resumes exactly after it. */
export const Since = {
  /** Only messages published after the subscription is made. */
  now: 'now',
  /** The channel's snapshot (if it has one), then every retained message after it. */
  snapshot: 'snapshot',
} as const;
export type SinceMode = (typeof Since)[keyof typeof Since];

/** The transports, by the name the client's `transports` option and the server's endpoints use. */
export const TransportName = {
  websocket: 'websocket',
  sse: 'sse',
  stream: 'stream',
  longpoll: 'longpoll',
  poll: 'poll',
} as const;
export type TransportName = (typeof TransportName)[keyof typeof TransportName];

/** Endpoint paths, relative to the mount path (default `/tidings`). */
export const Endpoint = {
  websocket: '/ws',
  sse: '/sse',
  stream: '/stream',
  longpoll: '/longpoll',
  poll: '/poll',
  publish: '/publish',
  presence: '/presence',
  history: '/history',
} as const;

export const DEFAULT_MOUNT_PATH = '/tidings';

export const Defaults = {
  /** Server → client ping on an idle connection, ms. */
  heartbeatMs: 25_000,
  /** How long a long-poll request waits for a message, ms. */
  longPollWaitMs: 25_000,
  /** Largest published `data`, as JSON bytes. */
  maxMessageBytes: 64 * 1024,
  /** Largest frame or request body accepted from a client, bytes. */
  maxFrameBytes: 128 * 1024,
  maxChannelLength: 200,
  maxSubscriptionsPerConnection: 128,
  /** Messages per history page returned at once. */
  maxHistoryBatch: 1_000,
} as const;

/** Query parameters of the HTTP transports. */
export const Query = {
  channel: 'channel',
  cursor: 'cursor',
  since: 'since',
  token: 'token',
  wait: 'wait',
  version: 'v',
  limit: 'limit',
  before: 'before',
} as const;

/** Headers of the HTTP transports. */
export const Header = {
  lastEventId: 'last-event-id',
  idempotencyKey: 'idempotency-key',
  authorization: 'authorization',
  /**
   * On the publish and poll endpoints' answers: the server's size limits, `maxMessageBytes=65536,
   * maxFrameBytes=131072`; on a poll answer also `expiresAt=<ms>`, when the request's token expires.
   */
  limits: 'tidings-limits',
} as const;

/** Content types of the HTTP transports. */
export const ContentType = {
  json: 'application/json',
  sse: 'text/event-stream',
  ndjson: 'application/x-ndjson',
} as const;

/** WebSocket close codes: 4000 + the HTTP status of the error code; the close reason is the error code. */
export const CLOSE_CODE_BASE = 4000;
/** Longest long-poll wait a client may ask for, ms. */
export const MAX_LONG_POLL_WAIT_MS = 60_000;
