import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ConfigError } from '../src/config/config-error.js';
import { ENV_VARS } from '../src/config/env.js';
import { validateConfig } from '../src/config/load.js';

function lines(raw: unknown, env: Record<string, string> = {}): readonly string[] {
  try {
    validateConfig(raw, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'INVALID_FIELD');
    return error.lines;
  }
  assert.fail('expected the configuration to be refused');
}

const STRONG_KEY = 'k3Y-for-the-tests-0123456789abcdefXYZ';

describe('configuration', () => {
  test('defaults: SQLite engine in ./tidings-data, on 0.0.0.0:8080, /tidings and /api, info logs, API off', () => {
    assert.deepEqual(validateConfig({}), {
      port: 8080,
      host: '0.0.0.0',
      path: '/tidings',
      apiPath: '/api',
      engine: { type: 'sqlite', dataDir: './tidings-data' },
      history: {},
      limits: {},
      logLevel: 'info',
      shutdownDeadlineMs: 5_000,
      clientScript: true,
      publish: false,
      subscribe: true,
      allowWeakApiKey: false,
    });
  });

  test('engine defaults fill in per type; a trailing slash of a path is dropped', () => {
    const redis = validateConfig({ engine: { type: 'redis' }, path: '/rt/' });
    assert.deepEqual(redis.engine, { type: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'tidings:' });
    assert.equal(redis.path, '/rt');
    const cluster = validateConfig({ engine: { type: 'redis', nodes: ['redis://10.0.0.1:7000'] } });
    assert.deepEqual(cluster.engine, {
      type: 'redis',
      url: 'redis://127.0.0.1:6379',
      prefix: 'tidings:',
      nodes: ['redis://10.0.0.1:7000'],
    });
    assert.throws(
      () => validateConfig({ engine: { type: 'redis', nodes: [] } }),
      /at least one cluster node/,
    );
    const nats = validateConfig({ engine: { type: 'nats' } });
    assert.deepEqual(nats.engine, {
      type: 'nats',
      servers: '127.0.0.1:4222',
      stream: 'TIDINGS',
      subjectPrefix: 'tidings',
    });
  });

  test('TIDINGS_ENGINE_URL picks the engine by its scheme and fills its address', () => {
    const redis = validateConfig(
      {},
      { TIDINGS_ENGINE_URL: 'rediss://cache:6380', TIDINGS_ENGINE_PREFIX: 'app:' },
    );
    assert.deepEqual(redis.engine, { type: 'redis', url: 'rediss://cache:6380', prefix: 'app:' });
    const nats = validateConfig(
      { engine: { type: 'memory' } },
      { TIDINGS_ENGINE_URL: 'nats://a:4222, nats://b:4222', TIDINGS_ENGINE_STREAM: 'APP' },
    );
    assert.deepEqual(nats.engine, {
      type: 'nats',
      servers: ['nats://a:4222', 'nats://b:4222'],
      stream: 'APP',
      subjectPrefix: 'tidings',
    });
    // TIDINGS_ENGINE switches type, dropping the other engine's fields rather than reporting them.
    const memory = validateConfig(
      { engine: { type: 'redis', url: 'redis://x:1' } },
      { TIDINGS_ENGINE: 'memory' },
    );
    assert.deepEqual(memory.engine, { type: 'memory' });
  });

  test('TIDINGS_DATA_DIR sets the SQLite directory, and alone picks the SQLite engine', () => {
    assert.deepEqual(validateConfig({}, { TIDINGS_DATA_DIR: '/var/lib/tidings' }).engine, {
      type: 'sqlite',
      dataDir: '/var/lib/tidings',
    });
    const full = validateConfig(
      { engine: { type: 'sqlite', synchronous: 'full' } },
      { TIDINGS_DATA_DIR: '/data' },
    );
    assert.deepEqual(full.engine, { type: 'sqlite', dataDir: '/data', synchronous: 'full' });
    // A URL alone replaces the default embedded engine.
    assert.equal(validateConfig({}, { TIDINGS_ENGINE_URL: 'redis://r:6379' }).engine.type, 'redis');
  });

  test('environment overrides: API key, origins, JWT keys, hooks, log level, deadline', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const config = validateConfig(
      { jwt: { secret: 'x'.repeat(40), issuer: 'file' }, origins: '*' },
      {
        TIDINGS_API_KEY: STRONG_KEY,
        TIDINGS_ORIGINS: 'https://a.example, https://b.example',
        TIDINGS_JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n'),
        TIDINGS_JWT_AUDIENCE: 'app',
        TIDINGS_HOOK_SUBSCRIBE: 'http://backend/subscribe',
        TIDINGS_HOOK_TIMEOUT_MS: '500',
        TIDINGS_HOOK_FAIL_OPEN: 'no',
        TIDINGS_LOG_LEVEL: 'warn',
        TIDINGS_SHUTDOWN_DEADLINE_MS: '1000',
        TIDINGS_HOST: '127.0.0.1',
        TIDINGS_PATH: '/live',
        TIDINGS_API_PATH: '/backend',
      },
    );
    assert.equal(config.apiKey, STRONG_KEY);
    assert.deepEqual(config.origins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(
      config.jwt,
      { publicKey: pem, issuer: 'file', audience: 'app' },
      'the env key replaces the secret',
    );
    assert.deepEqual(config.hooks, {
      subscribe: 'http://backend/subscribe',
      timeoutMs: 500,
      failOpen: false,
      headers: {},
      forwardHeaders: [],
    });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.shutdownDeadlineMs, 1_000);
    assert.deepEqual([config.host, config.path, config.apiPath], ['127.0.0.1', '/live', '/backend']);
  });

  test('flags override the environment, which overrides the file', () => {
    const config = validateConfig({ port: 1 }, { TIDINGS_PORT: '2', TIDINGS_HOST: 'env' }, { port: '3' });
    assert.equal(config.port, 3);
    assert.equal(config.host, 'env');
    assert.deepEqual(lines({}, { TIDINGS_HOOK_FAIL_OPEN: 'maybe' }), [
      'config.hooks.failOpen: expected true or false (from TIDINGS_HOOK_FAIL_OPEN)',
    ]);
  });

  test('JWT: algorithms must fit the key; an environment issuer alone is not a key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.deepEqual(lines({ jwt: { publicKey: pem, algorithms: ['HS256'] } }), [
      'config.jwt.algorithms: a public key verifies signatures, not HS256',
    ]);
    assert.deepEqual(lines({ jwt: { secret: 'x'.repeat(32), algorithms: ['none'] } }), [
      'config.jwt.algorithms[0]: expected an algorithm such as "HS256", "RS256", "ES256" or "EdDSA"',
    ]);
    assert.deepEqual(lines({}, { TIDINGS_JWT_ISSUER: 'me' }), [
      'config.jwt: expected exactly one of "secret" or "publicKey" (keys are local: no JWKS URL)',
    ]);
    assert.deepEqual(lines({ jwt: { jwksUrl: 'https://issuer/jwks.json', secret: 'x'.repeat(32) } }), [
      'config.jwt.jwksUrl: unknown field',
    ]);
  });

  test('limits, history and paths are checked field by field', () => {
    assert.deepEqual(
      lines({
        limits: { maxFrameBytes: 0, publishRate: { perSecond: 10 }, maxSockets: 3 },
        defaultHistory: { ttlMs: 'long' },
      }),
      [
        'config.defaultHistory.ttlMs: expected a positive number of milliseconds',
        'config.limits.maxFrameBytes: expected a positive number of bytes',
        'config.limits.publishRate.burst: expected a positive integer',
        'config.limits.maxSockets: unknown field',
      ],
    );
    assert.deepEqual(lines([]), ['config: expected a JSON object { … }']);
    // Checked once every field is right on its own.
    assert.deepEqual(lines({ path: '/healthz', apiPath: '/' }), [
      'config.path: expected a path other than "/healthz"',
      'config.apiPath: expected a path other than "/"',
    ]);
  });

  test('writeDelayMs: 0 to 1000 ms, or the server default', () => {
    assert.equal(validateConfig({ writeDelayMs: 0 }).writeDelayMs, 0);
    assert.equal(validateConfig({ writeDelayMs: 100 }).writeDelayMs, 100);
    assert.equal(validateConfig({}).writeDelayMs, undefined);
    assert.deepEqual(lines({ writeDelayMs: 1_001 }), [
      'config.writeDelayMs: expected a number of milliseconds from 0 to 1000',
    ]);
  });

  test('docs/STANDALONE.md documents every environment variable', async () => {
    const doc = await readFile(new URL('../../../docs/STANDALONE.md', import.meta.url), 'utf8');
    for (const name of Object.keys(ENV_VARS)) assert.ok(doc.includes(`\`${name}\``), name);
  });

  test('API keys: shorter than 32 characters or one repeated character is refused unless allowWeakApiKey', () => {
    assert.deepEqual(lines({ apiKey: 'aaaaaaaaaaaaaaaa' }), [
      'config.apiKey: expected a strong key (shorter than 32 characters): at least 32 random characters, e.g. `openssl rand -base64 32` (or set allowWeakApiKey: true)',
    ]);
    assert.deepEqual(lines({ apiKey: 'a'.repeat(40) }), [
      'config.apiKey: expected a strong key (one character repeated): at least 32 random characters, e.g. `openssl rand -base64 32` (or set allowWeakApiKey: true)',
    ]);
    // Whitespace can never be sent (headers are trimmed; `apikey <key>` ends at a space): refused always.
    assert.deepEqual(lines({ apiKey: ' '.repeat(40), allowWeakApiKey: true }), [
      'config.apiKey: expected a key without spaces or other whitespace',
    ]);
    assert.deepEqual(lines({}, { TIDINGS_API_KEY: 'short' }), [
      'config.apiKey: expected a strong key (shorter than 32 characters): at least 32 random characters, e.g. `openssl rand -base64 32` (or set allowWeakApiKey: true) (from TIDINGS_API_KEY)',
    ]);
    assert.equal(validateConfig({ apiKey: 'short', allowWeakApiKey: true }).apiKey, 'short');
    assert.equal(
      validateConfig({}, { TIDINGS_API_KEY: 'aaaa', TIDINGS_ALLOW_WEAK_API_KEY: 'true' }).apiKey,
      'aaaa',
    );
    assert.equal(validateConfig({ apiKey: STRONG_KEY }).apiKey, STRONG_KEY);
  });

  test('publish is closed and subscribe open by default; both take true, false or patterns (file or env)', () => {
    const defaults = validateConfig({});
    assert.deepEqual([defaults.publish, defaults.subscribe], [false, true]);
    const file = validateConfig({ publish: ['chat.*'], subscribe: false, trustProxy: 1 });
    assert.deepEqual([file.publish, file.subscribe, file.trustProxy], [['chat.*'], false, 1]);
    const env = validateConfig(
      {},
      {
        TIDINGS_PUBLISH: 'true',
        TIDINGS_SUBSCRIBE: 'public.>, news',
        TIDINGS_TRUST_PROXY: '10.0.0.1,10.0.0.2',
      },
    );
    assert.deepEqual(
      [env.publish, env.subscribe, env.trustProxy],
      [true, ['public.>', 'news'], ['10.0.0.1', '10.0.0.2']],
    );
    assert.deepEqual(lines({ publish: 'yes', trustProxy: ['proxy.local'] }), [
      'config.publish: expected true, false or a list of channels or patterns such as ["chat.*"]',
      'config.trustProxy[0]: expected an IP address',
    ]);
    assert.deepEqual(lines({ publish: ['bad pattern'] }), [
      'config.publish[0]: expected a channel name or pattern such as "chat.*"',
    ]);
  });
});
