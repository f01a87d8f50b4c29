import type { ErrorCode } from '@tidings/protocol';

/**
 * Watches what a Tidings server does, for metrics. Every callback is optional and runs synchronously
 * on the hot path (`delivered` once per frame per connection), so keep them to a counter increment.
 */
export interface ServerObserver {
  /** A message, snapshot or reset went out to one client connection. */
  delivered?(): void;
  /** An error went to a client: an `error` frame, an HTTP error answer or a refused WebSocket. */
  error?(code: ErrorCode): void;
  /** The server ended a connection with `disconnect` (shutdown, slow consumer, token expiry, `disconnect()`). */
  disconnected?(code: ErrorCode): void;
}
