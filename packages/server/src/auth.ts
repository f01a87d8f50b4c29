import type { IncomingMessage } from 'node:http';
import { ErrorCode, isPattern, isTidingsError, patternMatcher, TidingsError } from '@tidings/protocol';

/** Who a client is, and what it may read and write. */
export interface Identity {
  id: string;
  /** When its access ends, ms since the Unix epoch (the token's expiry). */
  expiresAt?: number;
  /** Channel patterns it may subscribe to; undefined: no restriction. */
  read?: string[];
  /** Channel patterns it may publish to; undefined: no restriction. */
  write?: string[];
  info?: Record<string, unknown>;
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

/** App-level checks that run after the identity's `read` / `write` patterns allowed the channel. */
export interface Authorization {
  canSubscribe?(identity: Identity, channel: string): boolean | Promise<boolean>;
  /** `data` is what is about to be published, so a check can look at the content too. */
  canPublish?(identity: Identity, channel: string, data: unknown): boolean | Promise<boolean>;
}

export const ANONYMOUS: Identity = Object.freeze({ id: 'anonymous' });

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

function allowedBy(patterns: readonly string[] | undefined, channel: string): boolean {
  if (patterns === undefined) return true;
  if (isPattern(channel)) return patterns.some((grant) => covers(grant, channel));
  for (const match of matchers(patterns)) if (match(channel)) return true;
  return false;
}

export function mayRead(identity: Identity, channel: string): boolean {
  return allowedBy(identity.read, channel);
}

export function mayWrite(identity: Identity, channel: string): boolean {
  return allowedBy(identity.write, channel);
}

/** Resolves when `identity` may subscribe to `channel`; rejects with FORBIDDEN (or the hook's TidingsError). */
export async function authorizeSubscribe(
  hooks: Authorization,
  identity: Identity,
  channel: string,
): Promise<void> {
  if (!mayRead(identity, channel)) throw forbidden('subscribe to', channel);
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
  if (!mayWrite(identity, channel)) throw forbidden('publish to', channel);
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
