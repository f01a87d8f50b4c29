/**
 * Express middleware for the Tidings HTTP endpoints, and the WebSocket upgrade hook.
 *
 * @module @tidings/server/express
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { TidingsServer } from '../server.js';

/**
 * Express middleware that serves the Tidings HTTP endpoints and passes every other request on.
 * Mount it at the app root, before any body parser (`express.json()` would consume the body of
 * `POST /tidings/publish`). WebSockets arrive as `upgrade` events, which Express never sees: call
 * `attachWebSocket(tidings, server)` on the server `app.listen()` returns.
 */
export function tidingsExpress(tidings: TidingsServer): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // Under `app.use('/prefix', …)` Express strips the prefix from req.url; Tidings matches the full
    // path, as the upgrade handler does, so both transports answer on the same URL.
    const url = req.url;
    req.url = req.originalUrl;
    let served: boolean;
    try {
      served = tidings.handle(req, res);
    } catch (error) {
      req.url = url;
      next(error);
      return;
    }
    if (served) return;
    req.url = url;
    next();
  };
}

export { attachWebSocket } from './upgrade.js';
