/**
 * A Fastify plugin serving the Tidings endpoints, WebSocket included.
 *
 * @module @tidings/server/fastify
 */
import type { FastifyPluginCallback } from 'fastify';
import type { TidingsServer } from '../server.js';
import { attachWebSocket } from './upgrade.js';

export interface TidingsFastifyOptions {
  tidings: TidingsServer;
  /** Take WebSocket upgrades on `fastify.server`. Default true. */
  upgrade?: boolean;
  /**
   * Close the Tidings server when Fastify closes (before it stops listening), so open streams end with
   * a `disconnect` and do not hold `fastify.close()` open. Default true.
   */
  closeWithApp?: boolean;
}

/**
 * Fastify plugin: `await app.register(tidingsFastify, { tidings })`. Tidings requests are taken in an
 * `onRequest` hook and hijacked there, before Fastify parses the body, so `POST /tidings/publish` reads
 * its own body and Fastify's JSON parser, routes and 404 handler never see them.
 */
const plugin: FastifyPluginCallback<TidingsFastifyOptions> = (fastify, options, done) => {
  const { tidings } = options;
  fastify.addHook('onRequest', (request, reply, next) => {
    if (tidings.handle(request.raw, reply.raw)) {
      reply.hijack();
      return;
    }
    next();
  });
  if (options.upgrade ?? true) {
    const detach = attachWebSocket(tidings, fastify.server);
    fastify.addHook('onClose', (_instance, next) => {
      detach();
      next();
    });
  }
  if (options.closeWithApp ?? true) {
    fastify.addHook('preClose', async () => {
      await tidings.close();
    });
  }
  done();
};

// What fastify-plugin does: without it, the hook would only apply inside this plugin's own
// encapsulation context, and requests to the app's routes and 404s would never reach it.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'tidings',
});

export const tidingsFastify = plugin;
