import { createPublicKey, KeyObject, type JsonWebKey as NodeJwk, type webcrypto } from 'node:crypto';
import { ErrorCode, isChannelName, isPattern, TidingsError } from '@tidings/protocol';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { ANONYMOUS, type AuthContext, type Authenticate, type Identity } from './auth.js';

// jose is ESM only: loaded with import() on first use, so that the CommonJS build of this package
// works on every supported Node (require() of an ES module needs Node 20.19 or 22.12).
type Jose = typeof import('jose');
let jose: Promise<Jose> | undefined;
function loadJose(): Promise<Jose> {
  jose ??= import('jose');
  return jose;
}

// The public types below are our own, not jose's: jose's declarations are ESM only, which a CommonJS
// TypeScript consumer (moduleResolution node16) cannot import.

/** A JSON Web Key (RFC 7517), as jose's, Node's `KeyObject.export({ format: 'jwk' })` or a JWKS holds. */
export interface JWK {
  kty?: string;
  alg?: string;
  kid?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  [parameter: string]: unknown;
}

/** The registered JWT claims (RFC 7519 §4.1) and any others. */
export interface JwtPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  jti?: string;
  nbf?: number;
  exp?: number;
  iat?: number;
  [claim: string]: unknown;
}

/**
 * A key set resolver, as jose's `createRemoteJWKSet` / `createLocalJWKSet` return: given the token's
 * protected header, the key to verify it with. (A method type, so jose's wider parameter types fit.)
 */
export type JwksResolver = {
  resolve(protectedHeader: { alg?: string; kid?: string }, token: unknown): unknown;
}['resolve'];

/**
 * Where the verification key comes from: exactly one of `secret` (HMAC), `publicKey` (one asymmetric
 * key) or `jwks` (a key set from jose's `createRemoteJWKSet` / `createLocalJWKSet`).
 */
export interface JwtAuthOptions {
  /** Shared HMAC secret, at least 32 bytes. Accepts HS256 tokens unless `algorithms` says otherwise. */
  secret?: string | Uint8Array;
  /** A PEM (SPKI, or a private key whose public half is used), a `KeyObject`, a `CryptoKey` or a JWK. */
  publicKey?: string | KeyObject | webcrypto.CryptoKey | JWK;
  /** A key set resolver, e.g. `createRemoteJWKSet(new URL('https://issuer/.well-known/jwks.json'))`. */
  jwks?: JwksResolver;
  /**
   * Accepted `alg` values. By default: `HS256` for a secret; the one algorithm the key is for (RS256 for
   * RSA, ES256/384/512 by curve, EdDSA for Ed25519) for a public key; RS256, ES256 and EdDSA for a JWKS.
   */
  algorithms?: string[];
  /** Required `iss`: one value or any of several. */
  issuer?: string | string[];
  /** Required `aud`: the token must name this audience (or one of these). */
  audience?: string | string[];
  /** Leeway for `exp`, `nbf` and `iat` against clock skew, in seconds. Default 0. */
  clockToleranceSec?: number;
  /** Without a token: `true` (default) refuses the request, `false` lets it in as `anonymous`. */
  required?: boolean;
  /**
   * The identity of a request without a token when `required` is false. Default `{ id: 'anonymous' }`.
   * It is marked `anonymous: true`: limits and idempotency keys then go by the client's address.
   */
  anonymous?: Identity;
  /**
   * Write patterns of a token that has no `channels.write` claim. Default `[]`: such a token only
   * reads, whatever the server's `publish` option says. `'server'` leaves it to that option instead.
   */
  defaultWrite?: string[] | 'server';
}

/** The claims Tidings reads from a token, beside the registered ones. */
export interface TidingsClaims extends JwtPayload {
  /**
   * Channel patterns the holder may subscribe to (`read`) and publish to (`write`). Without `read`: the
   * server's `subscribe` option decides (open by default). Without `write`: `jwtAuth`'s `defaultWrite`
   * (by default none: the token only reads).
   */
  channels?: { read?: string[]; write?: string[] };
  /** Free-form facts about the holder, passed on as `Identity.info`. */
  info?: Record<string, unknown>;
}

const MIN_SECRET_BYTES = 32;
const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const JWKS_DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];
const EC_ALGORITHM_BY_CURVE: Record<string, string> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/**
 * An `authenticate` hook that accepts a signed JWT and maps its claims to an `Identity`:
 * `sub` → `id`, `exp` (plus `clockToleranceSec`) → `expiresAt`, `channels.read` / `channels.write` → `read` / `write`, `info` → `info`.
 */
export function jwtAuth(options: JwtAuthOptions): Authenticate {
  const { key, algorithms } = verificationKey(options);
  const required = options.required ?? true;
  const anonymous: Identity = { ...(options.anonymous ?? ANONYMOUS), anonymous: true };
  const defaultWrite = writeDefault(options.defaultWrite);
  const verifyOptions = {
    algorithms,
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.audience !== undefined && { audience: options.audience }),
    ...(options.clockToleranceSec !== undefined && { clockTolerance: options.clockToleranceSec }),
  };

  return async ({ token }: AuthContext): Promise<Identity> => {
    if (token === undefined || token === '') {
      if (required) throw new TidingsError(ErrorCode.unauthorized, 'a token is required');
      return anonymous;
    }
    const { jwtVerify, errors, decodeProtectedHeader } = await loadJose();
    let payload: JWTPayload;
    try {
      // Two call shapes because jose types the key and the key resolver as separate overloads.
      payload =
        typeof key === 'function'
          ? (await jwtVerify(token, key, verifyOptions)).payload
          : (await jwtVerify(token, key, verifyOptions)).payload;
    } catch (error) {
      throw verificationError(error, token, algorithms, errors, decodeProtectedHeader);
    }
    return identityFromClaims(payload, options.clockToleranceSec ?? 0, defaultWrite);
  };
}

/** Signs a token with an HMAC secret, for tests, examples and services that share the secret. */
export async function signToken(
  claims: TidingsClaims,
  secret: string | Uint8Array,
  options: {
    /** `exp`: seconds from now, or a jose time span such as `'15m'` or `'2h'`. */
    expiresIn?: number | string;
    issuer?: string;
    audience?: string | string[];
    algorithm?: 'HS256' | 'HS384' | 'HS512';
  } = {},
): Promise<string> {
  const { SignJWT } = await loadJose();
  const jwt = new SignJWT(claims as JWTPayload).setProtectedHeader({
    alg: options.algorithm ?? 'HS256',
    typ: 'JWT',
  });
  jwt.setIssuedAt();
  if (options.expiresIn !== undefined) {
    jwt.setExpirationTime(
      typeof options.expiresIn === 'number'
        ? Math.floor(Date.now() / 1000) + options.expiresIn
        : options.expiresIn,
    );
  }
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(secretBytes(secret));
}

function verificationKey(options: JwtAuthOptions): {
  key: Uint8Array | KeyObject | JWTVerifyGetKey;
  algorithms: string[];
} {
  const given = [options.secret, options.publicKey, options.jwks].filter((k) => k !== undefined).length;
  if (given !== 1) throw configError('give exactly one of secret, publicKey or jwks');
  if (options.algorithms?.some((alg) => alg.toLowerCase() === 'none')) {
    throw configError('the "none" algorithm would accept unsigned tokens');
  }

  if (options.secret !== undefined) {
    const algorithms = options.algorithms ?? ['HS256'];
    // A key that verifies both HMAC and signatures invites algorithm confusion, so each kind stays apart.
    const foreign = algorithms.filter((alg) => !HMAC_ALGORITHMS.includes(alg));
    if (foreign.length > 0) throw configError(`a secret verifies HS256/384/512, not ${foreign.join(', ')}`);
    return { key: secretBytes(options.secret), algorithms };
  }

  if (options.jwks !== undefined) {
    const algorithms = options.algorithms ?? JWKS_DEFAULT_ALGORITHMS;
    const hmac = algorithms.filter((alg) => HMAC_ALGORITHMS.includes(alg));
    if (hmac.length > 0) throw configError(`a key set verifies signatures, not ${hmac.join(', ')}`);
    return { key: options.jwks as JWTVerifyGetKey, algorithms };
  }

  const key = publicKeyObject(options.publicKey!);
  const fitting = algorithmsForKey(key);
  const algorithms = options.algorithms ?? fitting.slice(0, key.asymmetricKeyType === 'ed25519' ? 2 : 1);
  const misfits = algorithms.filter((alg) => !fitting.includes(alg));
  if (misfits.length > 0) {
    throw configError(`a ${key.asymmetricKeyType} public key cannot verify ${misfits.join(', ')}`);
  }
  return { key, algorithms };
}

function publicKeyObject(input: string | KeyObject | webcrypto.CryptoKey | JWK): KeyObject {
  try {
    if (typeof input === 'string') return createPublicKey(input);
    if (input instanceof KeyObject) return input.type === 'public' ? input : createPublicKey(input);
    if (isCryptoKey(input)) return publicKeyObject(KeyObject.from(input));
    return createPublicKey({ key: input as NodeJwk, format: 'jwk' });
  } catch (error) {
    if (error instanceof TidingsError) throw error;
    throw configError('publicKey is not a usable public key (PEM, KeyObject, CryptoKey or JWK)', error);
  }
}

// Typed with Node's own CryptoKey: the global type comes from the DOM lib, which a server app may not
// load. The class itself is a global at run time (not on `webcrypto` in Node 20).
function isCryptoKey(value: unknown): value is webcrypto.CryptoKey {
  const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => webcrypto.CryptoKey }).CryptoKey;
  return CryptoKeyClass !== undefined && value instanceof CryptoKeyClass;
}

/** Every algorithm a key can verify, the conventional default first. */
function algorithmsForKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const alg = EC_ALGORITHM_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg) return [alg];
      break;
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
  }
  throw configError(`unsupported public key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  // RFC 7518 §3.2: an HMAC key shorter than the hash output is guessable offline from any token.
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw configError(`the secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

function configError(message: string, cause?: unknown): TidingsError {
  return new TidingsError(ErrorCode.invalidField, `jwtAuth: ${message}`, undefined, { cause });
}

/** Says what was wrong with a token without repeating it: the token is a credential. */
function verificationError(
  error: unknown,
  token: string,
  algorithms: string[],
  errors: Jose['errors'],
  decodeProtectedHeader: Jose['decodeProtectedHeader'],
): TidingsError {
  const unauthorized = (message: string) =>
    new TidingsError(ErrorCode.unauthorized, message, undefined, { cause: error });
  if (error instanceof errors.JWTExpired) {
    return new TidingsError(ErrorCode.tokenExpired, 'token expired', undefined, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return unauthorized('token signature is invalid');
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return unauthorized(
      `token algorithm ${headerAlgorithm(token, decodeProtectedHeader)} is not accepted (expected ${algorithms.join(', ')})`,
    );
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return unauthorized('token issuer (iss) is not accepted');
      case 'aud':
        return unauthorized('token audience (aud) is not accepted');
      case 'nbf':
        return unauthorized('token is not valid yet (nbf)');
      default:
        return unauthorized(`token claim ${error.claim} is invalid`);
    }
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return unauthorized('no known key matches the token (kid/alg)');
  if (error instanceof errors.JWKSTimeout) {
    return new TidingsError(ErrorCode.timeout, 'timed out fetching the signing keys', undefined, {
      cause: error,
    });
  }
  if (error instanceof errors.JWKSInvalid) {
    return new TidingsError(ErrorCode.internal, 'the signing key set is invalid', undefined, {
      cause: error,
    });
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  ) {
    return unauthorized('token is malformed: not a signed JWT');
  }
  if (error instanceof errors.JOSEError) return unauthorized('token could not be verified');
  // Not jose's verdict on the token (a key set fetch failing, say): the client is not at fault.
  return new TidingsError(ErrorCode.internal, 'token verification failed', undefined, { cause: error });
}

/** The token's `alg`, only if it looks like an algorithm name: the header is the sender's text. */
function headerAlgorithm(token: string, decodeProtectedHeader: Jose['decodeProtectedHeader']): string {
  try {
    const alg = decodeProtectedHeader(token).alg;
    if (typeof alg === 'string' && /^[A-Za-z0-9-]{1,16}$/.test(alg)) return alg;
  } catch {
    // A header that does not decode would have failed as malformed first.
  }
  return '(unreadable)';
}

function writeDefault(value: JwtAuthOptions['defaultWrite']): string[] | undefined {
  if (value === undefined) return [];
  if (value === 'server') return undefined;
  if (
    !Array.isArray(value) ||
    !value.every((p) => typeof p === 'string' && (isChannelName(p) || isPattern(p)))
  ) {
    throw new TidingsError(
      ErrorCode.invalidField,
      "jwtAuth defaultWrite must be a list of channel patterns or 'server'",
    );
  }
  return [...value];
}

function identityFromClaims(
  payload: TidingsClaims,
  toleranceSec: number,
  defaultWrite: string[] | undefined,
): Identity {
  const reject = (message: string) => new TidingsError(ErrorCode.unauthorized, message);
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw reject('token has no subject (sub)');
  }
  let read: string[] | undefined;
  let write = defaultWrite;
  const channels: unknown = payload.channels;
  if (channels !== undefined) {
    if (!isRecord(channels)) throw reject('token claim channels must be an object { read?, write? }');
    read = channelList(channels.read, 'read', reject);
    write = channelList(channels.write, 'write', reject) ?? defaultWrite;
  }
  const info: unknown = payload.info;
  if (info !== undefined && !isRecord(info)) throw reject('token claim info must be an object');
  return {
    id: payload.sub,
    // The server ends access at expiresAt itself, so the leeway that let the token in must extend it too.
    ...(payload.exp !== undefined && { expiresAt: (payload.exp + toleranceSec) * 1000 }),
    ...(read && { read }),
    ...(write && { write }),
    ...(info !== undefined && { info }),
  };
}

function channelList(
  value: unknown,
  side: 'read' | 'write',
  reject: (message: string) => TidingsError,
): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw reject(`token claim channels.${side} must be an array of channels`);
  value.forEach((pattern: unknown, i) => {
    if (!(typeof pattern === 'string' && (isChannelName(pattern) || isPattern(pattern)))) {
      throw reject(`token claim channels.${side}[${i}] is not a channel name or pattern`);
    }
  });
  return [...(value as string[])];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
