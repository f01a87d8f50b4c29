/**
 * Hono middleware (on `@hono/node-server`) for the Tidings HTTP endpoints, and the WebSocket upgrade hook.
 *
 * @module @tidings/server/hono
 */
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import type { MiddlewareHandler } from 'hono';
import type { TidingsServer } from '../server.js';

/**
 * Hono middleware for `@hono/node-server`: serves the Tidings HTTP endpoints on Node's own request and
 * response (`c.env.incoming` / `c.env.outgoing`) so streams are not buffered through a `Response`, and
 * passes every other request on. WebSockets arrive as `upgrade` events on the server `serve()` returns:
 * call `attachWebSocket(tidings, server)` on it.
 */
export function tidingsHono(tidings: TidingsServer): MiddlewareHandler<{ Bindings: HttpBindings }> {
  return async (c, next) => {
    const { incoming, outgoing } = c.env ?? {};
    if (incoming === undefined || outgoing === undefined) {
      throw new TidingsError(
        ErrorCode.internal,
        'tidingsHono needs @hono/node-server over HTTP/1.1 (c.env.incoming and c.env.outgoing)',
      );
    }
    // The marker tells @hono/node-server that the response was written directly and not to touch it.
    if (tidings.handle(incoming, outgoing)) return RESPONSE_ALREADY_SENT;
    await next();
  };
}

export { attachWebSocket } from './upgrade.js';
