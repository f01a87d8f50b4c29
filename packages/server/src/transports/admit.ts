import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import { ANONYMOUS, authorizeSubscribe, type Identity, identify, requestToken } from '../auth.js';
import { parseSubscriptionQuery, type SubscriptionQuery } from '../http/query.js';
import type { Session } from '../session.js';
import type { ServerContext } from './context.js';
import { toTidingsError } from './frames.js';

/** Authenticates a request (token from `Authorization: Bearer`, else `?token=`) within the request timeout. */
export function authenticateRequest(
  context: ServerContext,
  request: IncomingMessage,
  query: URLSearchParams,
): Promise<Identity> {
  // No hook: everyone is anonymous, with nothing to wait for (no timer, no race).
  if (context.authenticate === undefined) return Promise.resolve(ANONYMOUS);
  const token = requestToken(request, query.get('token'));
  const ms = context.limits.requestTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TidingsError(ErrorCode.timeout, `authentication took over ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([identify(context.authenticate, { request, token }), timeout]).finally(() =>
    clearTimeout(timer),
  );
}

/** An HTTP subscription request that may be served: who asks, what for, and which channels were refused. */
export interface Admitted {
  identity: Identity;
  /** Its `clientKey`, whose connection slot it holds. */
  client: string;
  query: SubscriptionQuery;
  allowed: string[];
  denied: Map<string, TidingsError>;
}

/**
 * The checks every SSE, stream and poll request goes through before its response starts: the query,
 * the identity, each channel's authorization, the connection limit. A request that cannot be served
 * at all is answered here (400/401/403/429/503) and yields undefined; one with only some channels
 * refused goes on, and those get `error` frames (see `start`).
 */
export async function admit(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
  options: { patterns: boolean; cors: OutgoingHttpHeaders | undefined },
): Promise<Admitted | undefined> {
  try {
    if (context.closing) throw shuttingDown();
    const parsed = parseSubscriptionQuery(request, query, {
      maxSubscriptions: context.limits.maxSubscriptions,
      patterns: options.patterns,
    });
    // Without an authenticate hook there is nothing to wait for.
    const identity =
      context.authenticate === undefined ? ANONYMOUS : await authenticateRequest(context, request, query);
    const denied = new Map<string, TidingsError>();
    if (parsed.channels.length === 1) {
      // The common case, without a promise per channel.
      const channel = parsed.channels[0];
      try {
        await authorizeSubscribe(context.hooks, identity, channel);
      } catch (error) {
        denied.set(channel, toTidingsError(error));
      }
    } else {
      await Promise.all(
        parsed.channels.map((channel) =>
          authorizeSubscribe(context.hooks, identity, channel).catch((error: unknown) => {
            denied.set(channel, toTidingsError(error));
          }),
        ),
      );
    }
    const allowed = parsed.channels.filter((channel) => !denied.has(channel));
    if (allowed.length === 0) throw denied.values().next().value;
    if (context.closing) throw shuttingDown();
    if (response.destroyed) return undefined;
    const client = context.clientKey(identity, request);
    if (!context.connectionsPerIdentity.acquire(client)) {
      throw new TidingsError(ErrorCode.tooManyConnections, 'too many connections for this identity');
    }
    return { identity, client, query: parsed, allowed, denied };
  } catch (error) {
    context.sendError(response, error, options.cors);
    return undefined;
  }
}

/**
 * Starts an admitted request's subscriptions on its session: cursor entries seed the positions, refused
 * channels get their `error` frame. Resolves once every subscription has started (or failed).
 */
export async function start(session: Session, admitted: Admitted): Promise<void> {
  const { query, allowed, denied } = admitted;
  for (const channel of query.channels) {
    const position = query.cursor.get(channel);
    if (position !== undefined) session.seed(channel, position);
  }
  for (const [channel, error] of denied) session.fail(error, undefined, channel);
  await Promise.all(
    allowed.map((channel) =>
      session.subscribe(channel, query.cursor.get(channel) ?? query.since, undefined, true),
    ),
  );
}

export function shuttingDown(): TidingsError {
  return new TidingsError(ErrorCode.shuttingDown, 'the server is shutting down: try again (elsewhere)');
}
