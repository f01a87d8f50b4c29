/**
 * Koa middleware for the Tidings HTTP endpoints, and the WebSocket upgrade hook.
 *
 * @module @tidings/server/koa
 */
import type { Middleware } from 'koa';
import type { TidingsServer } from '../server.js';

/**
 * Koa middleware that serves the Tidings HTTP endpoints on the raw request and response, and tells Koa
 * to keep its hands off them (`ctx.respond = false`); other requests go on down the stack. Use it before
 * any body parser. For WebSockets, call `attachWebSocket(tidings, server)` on the server `app.listen()`
 * returns.
 */
export function tidingsKoa(tidings: TidingsServer): Middleware {
  return async (ctx, next) => {
    if (tidings.handle(ctx.req, ctx.res)) {
      // Koa would otherwise end the response (404) as soon as the middleware chain returns.
      ctx.respond = false;
      return;
    }
    await next();
  };
}

export { attachWebSocket } from './upgrade.js';
