import type { IncomingMessage } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import { ANONYMOUS, type Authenticate, type Identity, jwtAuth } from '@tidings/server';
import type { Config, JwtConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { isReserved } from '../reserved.js';
import type { BackendHooks, HookKind } from './backend-hooks.js';

/** The `authenticate`, `canSubscribe` and `canPublish` options of createTidingsServer. */
export interface Access {
  authenticate: Authenticate | undefined;
  canSubscribe(identity: Identity, channel: string): Promise<boolean>;
  canPublish(identity: Identity, channel: string, data: unknown): Promise<boolean>;
}

/**
 * Who may do what: the JWT (if configured) says who the client is; then the backend's connect hook
 * may confirm, replace or refuse that identity, and its subscribe and publish hooks decide per channel
 * after the identity's own `read`/`write` claims allowed it. Without JWT or a connect hook everyone is
 * `anonymous`. The reserved `_tidings.*` channels are refused to every client.
 */
export function createAccess(config: Config, hooks: BackendHooks | undefined, logger: Logger): Access {
  const jwt = config.jwt === undefined ? undefined : jwtAuth(jwtOptions(config.jwt));
  const forward = (config.hooks?.forwardHeaders ?? []).map((name) => name.toLowerCase());

  const decide = async (kind: HookKind, body: Record<string, unknown>) => {
    try {
      return await hooks!.call(kind, body);
    } catch (error) {
      // Logged by the hook (with its code); failing open lets the request through as if allowed.
      if (hooks!.failOpen) return { allow: true };
      throw error;
    }
  };

  let authenticate: Authenticate | undefined = jwt;
  if (hooks?.has('connect')) {
    authenticate = async (context) => {
      const claimed = jwt === undefined ? undefined : await jwt(context);
      const body: Record<string, unknown> = { remoteAddress: context.request.socket.remoteAddress };
      if (context.token !== undefined) body.token = context.token;
      if (claimed !== undefined) body.identity = claimed;
      if (forward.length > 0) body.headers = pick(context.request, forward);
      const answer = await decide('connect', body);
      if (!answer.allow) {
        logger.debug({ hook: 'connect' }, 'connect refused by the backend');
        throw new TidingsError(ErrorCode.unauthorized, 'the backend refused the connection');
      }
      return answer.identity ?? claimed ?? ANONYMOUS;
    };
  }

  return {
    authenticate,
    async canSubscribe(identity, channel) {
      if (isReserved(channel)) return false;
      if (!hooks?.has('subscribe')) return true;
      return (await decide('subscribe', { identity, channel })).allow;
    },
    async canPublish(identity, channel, data) {
      if (isReserved(channel)) return false;
      if (!hooks?.has('publish')) return true;
      return (await decide('publish', { identity, channel, data })).allow;
    },
  };
}

function jwtOptions(config: JwtConfig): Parameters<typeof jwtAuth>[0] {
  return {
    ...(config.secret !== undefined && { secret: config.secret }),
    ...(config.publicKey !== undefined && { publicKey: config.publicKey }),
    ...(config.algorithms !== undefined && { algorithms: config.algorithms }),
    ...(config.issuer !== undefined && { issuer: config.issuer }),
    ...(config.audience !== undefined && { audience: config.audience }),
    ...(config.clockToleranceSec !== undefined && { clockToleranceSec: config.clockToleranceSec }),
    ...(config.required !== undefined && { required: config.required }),
    ...(config.defaultWrite !== undefined && { defaultWrite: config.defaultWrite }),
  };
}

function pick(request: IncomingMessage, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
