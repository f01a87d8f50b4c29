import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { jwtAuth, signToken } from '../src/jwt.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const OTHER_SECRET = 'another-secret-that-is-at-least-32-bytes-long';

function ctx(token: string | undefined) {
  return { request: {} as IncomingMessage, token };
}

async function rejects(promise: unknown, code: string, message: RegExp): Promise<TidingsError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TidingsError, `expected a TidingsError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, message);
  return caught;
}

async function signWith(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Record<string, unknown>,
  exp: string | number = '1h',
) {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime(exp).sign(key);
}

describe('jwtAuth', () => {
  test('HS256: sub, exp, channels and info become the identity', async () => {
    const authenticate = jwtAuth({ secret: SECRET });
    const token = await signToken(
      { sub: 'user-1', channels: { read: ['chat.*', 'news'], write: ['chat.>'] }, info: { name: 'Ada' } },
      SECRET,
      { expiresIn: 60 },
    );
    const before = Date.now();
    const identity = await authenticate(ctx(token));
    assert.ok(identity);
    assert.equal(identity.id, 'user-1');
    assert.deepEqual(identity.read, ['chat.*', 'news']);
    assert.deepEqual(identity.write, ['chat.>']);
    assert.deepEqual(identity.info, { name: 'Ada' });
    assert.ok(identity.expiresAt !== undefined);
    assert.ok(identity.expiresAt % 1000 === 0, 'exp is in seconds, expiresAt in ms');
    assert.ok(identity.expiresAt > before + 58_000 && identity.expiresAt <= before + 61_000);
  });

  test('without a channels claim the token reads (server default) and writes nothing, unless defaultWrite says', async () => {
    const token = await signToken({ sub: 'u' }, SECRET);
    assert.deepEqual(await jwtAuth({ secret: SECRET })(ctx(token)), { id: 'u', write: [] });
    // A read-only channels claim is the same: no write claim, no writing.
    const reader = await signToken({ sub: 'u', channels: { read: ['news'] } }, SECRET);
    assert.deepEqual(await jwtAuth({ secret: SECRET })(ctx(reader)), { id: 'u', read: ['news'], write: [] });
    assert.deepEqual(await jwtAuth({ secret: SECRET, defaultWrite: ['chat.*'] })(ctx(token)), {
      id: 'u',
      write: ['chat.*'],
    });
    // 'server': the server's `publish` option decides, as for an identity without write patterns.
    assert.deepEqual(await jwtAuth({ secret: SECRET, defaultWrite: 'server' })(ctx(token)), { id: 'u' });
    // A write claim wins over the default.
    const writer = await signToken({ sub: 'u', channels: { write: ['a'] } }, SECRET);
    assert.deepEqual(await jwtAuth({ secret: SECRET, defaultWrite: ['b'] })(ctx(writer)), {
      id: 'u',
      write: ['a'],
    });
    assert.throws(() => jwtAuth({ secret: SECRET, defaultWrite: ['bad pattern'] }), /defaultWrite/);
  });

  test('RS256 with a PEM public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const authenticate = jwtAuth({ publicKey: await exportSPKI(publicKey) });
    const identity = await authenticate(ctx(await signWith(privateKey, 'RS256', { sub: 'rsa-user' })));
    assert.equal(identity?.id, 'rsa-user');
  });

  test('EdDSA with a CryptoKey, ES256 with a JWK', async () => {
    const ed = await generateKeyPair('EdDSA');
    const edIdentity = await jwtAuth({ publicKey: ed.publicKey })(
      ctx(await signWith(ed.privateKey, 'EdDSA', { sub: 'ed-user' })),
    );
    assert.equal(edIdentity?.id, 'ed-user');

    const ec = await generateKeyPair('ES256');
    const ecIdentity = await jwtAuth({ publicKey: await exportJWK(ec.publicKey) })(
      ctx(await signWith(ec.privateKey, 'ES256', { sub: 'ec-user' })),
    );
    assert.equal(ecIdentity?.id, 'ec-user');
  });

  test('a local JWKS picks the key by kid', async () => {
    const a = await generateKeyPair('RS256');
    const b = await generateKeyPair('ES256');
    const jwks = createLocalJWKSet({
      keys: [
        { ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'RS256' },
        { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'ES256' },
      ],
    });
    const authenticate = jwtAuth({ jwks });
    const token = await new SignJWT({ sub: 'by-kid' })
      .setProtectedHeader({ alg: 'ES256', kid: 'b' })
      .sign(b.privateKey);
    assert.equal((await authenticate(ctx(token)))?.id, 'by-kid');

    const unknownKid = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'c' })
      .sign(b.privateKey);
    await rejects(authenticate(ctx(unknownKid)), ErrorCode.unauthorized, /no known key/);
  });

  test('an expired token is TOKEN_EXPIRED; clock tolerance lets it through', async () => {
    const token = await signToken({ sub: 'u', exp: Math.floor(Date.now() / 1000) - 10 }, SECRET);
    await rejects(jwtAuth({ secret: SECRET })(ctx(token)), ErrorCode.tokenExpired, /expired/);
    const lenient = await jwtAuth({ secret: SECRET, clockToleranceSec: 60 })(ctx(token));
    assert.equal(lenient?.id, 'u');
    // The server cuts access at expiresAt, so the leeway has to be in it.
    assert.ok(lenient?.expiresAt !== undefined && lenient.expiresAt > Date.now());
  });

  test('a forged signature is UNAUTHORIZED and the message does not echo the token', async () => {
    const forged = await signToken({ sub: 'admin' }, OTHER_SECRET);
    const error = await rejects(
      jwtAuth({ secret: SECRET })(ctx(forged)),
      ErrorCode.unauthorized,
      /signature/,
    );
    assert.ok(!error.message.includes(forged));
    for (const part of forged.split('.')) assert.ok(!error.message.includes(part));

    const { publicKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    await rejects(
      jwtAuth({ publicKey })(ctx(await signWith(other.privateKey, 'RS256', { sub: 'admin' }))),
      ErrorCode.unauthorized,
      /signature/,
    );
  });

  test('algorithm confusion: an HS256 token signed with the RSA public key is refused', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    // The classic attack: use the (public) PEM bytes as the HMAC secret.
    const token = await signWith(new TextEncoder().encode(pem), 'HS256', { sub: 'admin' });
    await rejects(jwtAuth({ publicKey: pem })(ctx(token)), ErrorCode.unauthorized, /algorithm HS256.*RS256/);
    // Nor does a key config accept HMAC algorithms at all.
    assert.throws(
      () => jwtAuth({ publicKey: pem, algorithms: ['RS256', 'HS256'] }),
      (e: unknown) => e instanceof TidingsError && /cannot verify HS256/.test(e.message),
    );
  });

  test('an alg:none token is refused, as is configuring none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url');
    await rejects(
      jwtAuth({ secret: SECRET })(ctx(`${header}.${body}.`)),
      ErrorCode.unauthorized,
      /algorithm none/,
    );
    assert.throws(() => jwtAuth({ secret: SECRET, algorithms: ['none'] }), TidingsError);
  });

  test('garbage is malformed', async () => {
    await rejects(jwtAuth({ secret: SECRET })(ctx('not-a-jwt')), ErrorCode.unauthorized, /malformed/);
    await rejects(jwtAuth({ secret: SECRET })(ctx('a.b.c')), ErrorCode.unauthorized, /malformed/);
  });

  test('wrong issuer or audience', async () => {
    const authenticate = jwtAuth({ secret: SECRET, issuer: 'https://auth.example', audience: 'tidings' });
    const good = await signToken({ sub: 'u' }, SECRET, {
      issuer: 'https://auth.example',
      audience: 'tidings',
    });
    assert.equal((await authenticate(ctx(good)))?.id, 'u');

    const wrongIss = await signToken({ sub: 'u' }, SECRET, {
      issuer: 'https://evil.example',
      audience: 'tidings',
    });
    await rejects(authenticate(ctx(wrongIss)), ErrorCode.unauthorized, /issuer/);
    const wrongAud = await signToken({ sub: 'u' }, SECRET, {
      issuer: 'https://auth.example',
      audience: 'other',
    });
    await rejects(authenticate(ctx(wrongAud)), ErrorCode.unauthorized, /audience/);
    const noAud = await signToken({ sub: 'u' }, SECRET, { issuer: 'https://auth.example' });
    await rejects(authenticate(ctx(noAud)), ErrorCode.unauthorized, /audience/);
  });

  test('missing token: required (default) refuses, required:false is anonymous', async () => {
    await rejects(jwtAuth({ secret: SECRET })(ctx(undefined)), ErrorCode.unauthorized, /required/);
    await rejects(jwtAuth({ secret: SECRET })(ctx('')), ErrorCode.unauthorized, /required/);
    assert.deepEqual(await jwtAuth({ secret: SECRET, required: false })(ctx(undefined)), {
      id: 'anonymous',
      anonymous: true,
    });
    const guest = { id: 'guest', read: ['public.>'], write: [] };
    // Marked anonymous: limits and idempotency scopes then go by the client's address.
    assert.deepEqual(await jwtAuth({ secret: SECRET, required: false, anonymous: guest })(ctx(undefined)), {
      ...guest,
      anonymous: true,
    });
    // A bad token is still refused: optional does not mean unchecked.
    await rejects(
      jwtAuth({ secret: SECRET, required: false })(ctx(await signToken({ sub: 'u' }, OTHER_SECRET))),
      ErrorCode.unauthorized,
      /signature/,
    );
  });

  test('invalid claims: no sub, bad channels, bad info', async () => {
    const authenticate = jwtAuth({ secret: SECRET });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /subject/],
      [{ sub: '' }, /subject/],
      [{ sub: 'u', channels: ['chat'] }, /channels must be an object/],
      [{ sub: 'u', channels: { read: 'chat' } }, /channels\.read must be an array/],
      [{ sub: 'u', channels: { read: ['chat', 'bad channel'] } }, /channels\.read\[1\] is not a channel/],
      [{ sub: 'u', channels: { write: ['chat.>.x'] } }, /channels\.write\[0\]/],
      [{ sub: 'u', channels: { write: [42] } }, /channels\.write\[0\]/],
      [{ sub: 'u', info: 'x' }, /info must be an object/],
    ];
    for (const [claims, message] of cases) {
      await rejects(authenticate(ctx(await signToken(claims, SECRET))), ErrorCode.unauthorized, message);
    }
  });

  test('configuration errors are caught up front', () => {
    assert.throws(() => jwtAuth({}), /exactly one/);
    assert.throws(() => jwtAuth({ secret: SECRET, jwks: async () => new Uint8Array() }), /exactly one/);
    assert.throws(() => jwtAuth({ secret: 'short' }), /at least 32 bytes/);
    assert.throws(() => jwtAuth({ secret: SECRET, algorithms: ['RS256'] }), /not RS256/);
    assert.throws(() => jwtAuth({ publicKey: 'not a pem' }), /not a usable public key/);
  });

  test('the secret may be bytes; HS512 when asked for', async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(64));
    const token = await signToken({ sub: 'u' }, bytes, { algorithm: 'HS512' });
    await rejects(jwtAuth({ secret: bytes })(ctx(token)), ErrorCode.unauthorized, /HS512.*HS256/);
    assert.equal((await jwtAuth({ secret: bytes, algorithms: ['HS512'] })(ctx(token)))?.id, 'u');
  });
});
