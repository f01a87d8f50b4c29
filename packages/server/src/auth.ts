import type { IncomingMessage } from 'node:http';
import {
  assertChannelOrPattern,
  ErrorCode,
  isPattern,
  isTidingsError,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';

/** Who a client is, and what it may read and write. */
export interface Identity {
  id: string;
  /** When its access ends, ms since the Unix epoch (the token's expiry). */
  expiresAt?: number;
  /** Channel patterns it may subscribe to (these and no others); undefined: the server's `subscribe` option decides. */
  read?: string[];
  /** Channel patterns it may publish to (these and no others); undefined: the server's `publish` option decides. */
  write?: string[];
  info?: Record<string, unknown>;
  /**
   * True for a client that did not say who it is. All such clients share one id, so the server tells them
   * apart by remote address: for rate and connection limits, and for the scope of their idempotency keys.
   */
  anonymous?: boolean;
}

export interface AuthContext {
  request: IncomingMessage;
  /** From `Authorization: Bearer`, else the `token` query parameter; for a `refresh` frame, its token. */
  token: string | undefined;
}

/** null/undefined refuses with UNAUTHORIZED; a thrown TidingsError refuses with its code (e.g. TOKEN_EXPIRED). */
export type Authenticate = (
  context: AuthContext,
) => Identity | null | undefined | Promise<Identity | null | undefined>;

/**
 * What an identity without patterns of its own may do: everything (`true`), nothing (`false`), or the
 * channels these patterns match.
 */
export type Grant = boolean | readonly string[];

/**
 * Who may subscribe and publish where. An identity's own `read` / `write` patterns decide for it; an
 * identity without them gets the server's default grant (`subscribe`: open, `publish`: closed). The
 * app-level checks run after that allowed the channel, and can only narrow it.
 */
export interface Authorization {
  /** Default grant to subscribe. Default true. */
  subscribe?: Grant;
  /** Default grant to publish. Default false: clients publish only where something allowed it explicitly. */
  publish?: Grant;
  canSubscribe?(identity: Identity, channel: string): boolean | Promise<boolean>;
  /** `data` is what is about to be published, so a check can look at the content too. */
  canPublish?(identity: Identity, channel: string, data: unknown): boolean | Promise<boolean>;
}

export const ANONYMOUS: Identity = Object.freeze({ id: 'anonymous', anonymous: true });

/** Runs `authenticate` and checks what it returned; every refusal is a TidingsError. */
export async function identify(
  authenticate: Authenticate | undefined,
  context: AuthContext,
): Promise<Identity> {
  if (authenticate === undefined) return ANONYMOUS;
  let identity: Identity | null | undefined;
  try {
    identity = await authenticate(context);
  } catch (error) {
    if (isTidingsError(error)) throw error;
    throw new TidingsError(ErrorCode.internal, 'authentication failed', undefined, { cause: error });
  }
  if (identity === null || identity === undefined) {
    throw new TidingsError(ErrorCode.unauthorized, 'not authenticated');
  }
  if (typeof identity.id !== 'string' || identity.id === '') {
    throw new TidingsError(ErrorCode.internal, 'authenticate returned an identity without an id');
  }
  if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
    throw new TidingsError(ErrorCode.tokenExpired, 'the token has expired');
  }
  return identity;
}

/** The token of a request: `Authorization: Bearer <token>`, else the `token` query parameter. */
export function requestToken(request: IncomingMessage, queryToken: string | null): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined && /^bearer /i.test(header)) return header.slice(7).trim() || undefined;
  return queryToken ?? undefined;
}

type Matcher = (channel: string) => boolean;
const compiled = new WeakMap<readonly string[], Matcher[]>();

function matchers(patterns: readonly string[]): Matcher[] {
  let list = compiled.get(patterns);
  if (list === undefined) {
    list = patterns.map(patternMatcher);
    compiled.set(patterns, list);
  }
  return list;
}

/**
 * True when every channel `subject` (a channel or a pattern) can match also matches `grant`, so a
 * pattern subscription never delivers a channel the grant does not cover.
 */
export function covers(grant: string, subject: string): boolean {
  if (!isPattern(subject)) return patternMatcher(grant)(subject);
  const g = grant.split('.');
  const s = subject.split('.');
  for (let i = 0; i < g.length; i++) {
    if (g[i] === '>') return i < s.length;
    if (i >= s.length || s[i] === '>') return false;
    if (g[i] !== '*' && (s[i] === '*' || s[i] !== g[i])) return false;
  }
  return g.length === s.length;
}

function allowedBy(patterns: Grant, channel: string): boolean {
  if (typeof patterns === 'boolean') return patterns;
  if (isPattern(channel)) return patterns.some((grant) => covers(grant, channel));
  for (const match of matchers(patterns)) if (match(channel)) return true;
  return false;
}

/** Whether `identity` may read `channel` by its `read` patterns, else by the default grant (open). */
export function mayRead(identity: Identity, channel: string, grant: Grant = true): boolean {
  return allowedBy(identity.read ?? grant, channel);
}

/** Whether `identity` may write `channel` by its `write` patterns, else by the default grant (closed). */
export function mayWrite(identity: Identity, channel: string, grant: Grant = false): boolean {
  return allowedBy(identity.write ?? grant, channel);
}

/** Checks a `subscribe` / `publish` server option: a boolean or a list of channels and patterns. */
export function checkGrant(grant: Grant | undefined, name: string): void {
  if (grant === undefined || typeof grant === 'boolean') return;
  if (!Array.isArray(grant)) {
    throw new TidingsError(
      ErrorCode.invalidField,
      `${name} must be true, false or a list of channel patterns`,
    );
  }
  for (const pattern of grant) assertChannelOrPattern(pattern);
}

/** Resolves when `identity` may subscribe to `channel`; rejects with FORBIDDEN (or the hook's TidingsError). */
export async function authorizeSubscribe(
  hooks: Authorization,
  identity: Identity,
  channel: string,
): Promise<void> {
  if (!mayRead(identity, channel, hooks.subscribe)) throw forbidden('subscribe to', channel);
  if (hooks.canSubscribe && !(await runHook(() => hooks.canSubscribe!(identity, channel)))) {
    throw forbidden('subscribe to', channel);
  }
}

/** Resolves when `identity` may publish to `channel`; rejects with FORBIDDEN (or the hook's TidingsError). */
export async function authorizePublish(
  hooks: Authorization,
  identity: Identity,
  channel: string,
  data: unknown,
): Promise<void> {
  if (!mayWrite(identity, channel, hooks.publish)) throw forbidden('publish to', channel);
  if (hooks.canPublish && !(await runHook(() => hooks.canPublish!(identity, channel, data)))) {
    throw forbidden('publish to', channel);
  }
}

async function runHook(hook: () => boolean | Promise<boolean>): Promise<boolean> {
  try {
    return (await hook()) === true;
  } catch (error) {
    if (isTidingsError(error)) throw error;
    throw new TidingsError(ErrorCode.internal, 'authorization check failed', undefined, { cause: error });
  }
}

function forbidden(action: string, channel: string): TidingsError {
  return new TidingsError(ErrorCode.forbidden, `not allowed to ${action} ${channel}`);
}
