import type { ServerContext } from './context.js';
import type { SizeLimits } from './frames.js';

/**
 * What this server accepts, as every transport tells its clients (`welcome`, `Tidings-Limits`). The
 * data limit is the hub's: a hub passed to the server keeps its own.
 */
export function sizeLimits(context: ServerContext): SizeLimits {
  return { maxMessageBytes: context.hub.maxMessageBytes, maxFrameBytes: context.limits.maxFrameBytes };
}

/**
 * The `Tidings-Limits` header of the HTTP answers a client reads with fetch (publish, poll). A poll
 * answer adds when the request's token expires: polls have no `welcome`, and a client renews its token
 * from this as a streaming client does from `welcome.expiresAt`.
 */
export function limitsHeader(context: ServerContext, expiresAt?: number): string {
  const { maxMessageBytes, maxFrameBytes } = sizeLimits(context);
  const expiry = expiresAt === undefined ? '' : `, expiresAt=${expiresAt}`;
  return `maxMessageBytes=${maxMessageBytes}, maxFrameBytes=${maxFrameBytes}${expiry}`;
}
