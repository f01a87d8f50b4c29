import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { API_KEY, api, openSse, runTidings, serve, tempConfig, workDir } from './support.js';

const GOOD = { port: 0, host: '127.0.0.1', apiKey: API_KEY, logLevel: 'info' };

describe('tidings serve', () => {
  test('starts with a good config: logs "listening", serves health, the API and SSE; SIGTERM exits 0', async () => {
    const file = await tempConfig(GOOD);
    const server = await serve(['--config', file]);
    const listening = server.logs.find((entry) => entry.msg === 'listening')!;
    // The default engine: SQLite in ./tidings-data of the working directory.
    assert.match(String(listening.engine), /^sqlite \/.+\/tidings-data\/tidings\.db$/);
    assert.equal(listening.api, true);

    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const sse = await openSse(`${server.url}/tidings/sse?channel=news`);
    await sse.next((frame) => frame.type === 'subscribed');
    const published = await api(server.url, 'POST', '/publish', { channel: 'news', data: { title: 'hi' } });
    assert.equal(published.status, 200);
    assert.equal(published.body.type, 'ack');
    assert.equal(published.body.offset, 1);
    const message = await sse.next((frame) => frame.type === 'message');
    assert.deepEqual(message.data, { title: 'hi' });

    const { code, signal } = await server.stop();
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(server.logs.some((entry) => entry.msg === 'stopped'));
    // Never a token or payload in the logs.
    assert.ok(!JSON.stringify(server.logs).includes(API_KEY));
    assert.ok(!JSON.stringify(server.logs).includes('"title"'));
  });

  test('--port and --host override the file', async () => {
    const file = await tempConfig({ ...GOOD, port: 1, host: 'nowhere.invalid' });
    const server = await serve(['--config', file, '--port', '0', '--host', '127.0.0.1']);
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  test('environment variables override the file: TIDINGS_API_KEY, TIDINGS_PORT, TIDINGS_LOG_LEVEL', async () => {
    const file = await tempConfig({ ...GOOD, port: 1 });
    const envKey = 'key-from-the-environment-0123456789-42';
    const server = await serve(['--config', file], {
      TIDINGS_API_KEY: envKey,
      TIDINGS_PORT: '0',
      TIDINGS_LOG_LEVEL: 'debug',
    });
    const withFileKey = await api(server.url, 'POST', '/publish', { channel: 'a', data: 1 });
    assert.equal(withFileKey.status, 401);
    const withEnvKey = await api(
      server.url,
      'POST',
      '/publish',
      { channel: 'a', data: 1 },
      { 'x-api-key': envKey },
    );
    assert.equal(withEnvKey.status, 200);
    // debug level: API requests are logged, without their bodies.
    assert.ok(server.logs.some((entry) => entry.msg === 'api request' && entry.endpoint === 'publish'));
  });

  test('TIDINGS_CONFIG names the file; without any file the defaults serve (SQLite engine)', async () => {
    const file = await tempConfig(GOOD);
    const fromEnv = await serve([], { TIDINGS_CONFIG: file });
    assert.equal((await api(fromEnv.url, 'GET', '/channels')).status, 200);
    const defaults = await serve(['--port', '0', '--host', '127.0.0.1']);
    const off = await api(defaults.url, 'GET', '/channels');
    assert.equal(off.status, 401);
    assert.equal(off.body.message, 'the HTTP API is off: no apiKey is configured');
  });
});

describe('tidings serve with no engine configured (SQLite in ./tidings-data)', () => {
  const args = ['--port', '0', '--host', '127.0.0.1'];
  const env = { TIDINGS_API_KEY: API_KEY };

  test('kill -9 and a restart keep every channel: its epoch, offsets and messages', async () => {
    const cwd = workDir();
    const first = await serve(args, env, undefined, cwd);
    const acked: { epoch: string; offset: number }[] = [];
    for (let i = 1; i <= 5; i++) {
      const { body } = await api(first.url, 'POST', '/publish', { channel: 'orders', data: { i } });
      acked.push({ epoch: String(body.epoch), offset: Number(body.offset) });
    }
    assert.ok(first.child.pid !== undefined);
    process.kill(first.child.pid, 'SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');

    const second = await serve(args, env, undefined, cwd);
    const { epoch } = acked[0]!;
    const history = await api(second.url, 'GET', `/history?channel=orders&since=${epoch}:0`);
    assert.equal(history.body.reset, false, 'the position is served: no reset');
    assert.deepEqual(
      (history.body.messages as { offset: number; data: unknown }[]).map((m) => [m.offset, m.data]),
      [1, 2, 3, 4, 5].map((i) => [i, { i }]),
    );
    const next = await api(second.url, 'POST', '/publish', { channel: 'orders', data: { i: 6 } });
    assert.deepEqual([next.body.epoch, next.body.offset], [epoch, 6]);
  });

  test('a second server on the same data directory is refused, and the first goes on', async () => {
    const cwd = workDir();
    const first = await serve(args, env, undefined, cwd);
    const second = await runTidings(['serve', ...args], env, undefined, cwd);
    assert.equal(second.code, 2);
    assert.match(
      second.stderr,
      /could not start: .*tidings-data\/tidings\.db is in use by another Tidings process/,
    );
    const published = await api(first.url, 'POST', '/publish', { channel: 'a', data: 1 });
    assert.equal(published.status, 200);
  });

  test('{"engine":{"type":"memory"}} keeps nothing across a restart', async () => {
    const cwd = workDir();
    const file = await tempConfig({ ...GOOD, engine: { type: 'memory' } });
    const first = await serve(['--config', file], {}, undefined, cwd);
    assert.equal(first.logs.find((entry) => entry.msg === 'listening')?.engine, 'memory');
    await api(first.url, 'POST', '/publish', { channel: 'a', data: 1 });
    await first.stop();
    const second = await serve(['--config', file], {}, undefined, cwd);
    const history = await api(second.url, 'GET', '/history?channel=a');
    assert.deepEqual(history.body.messages, []);
  });
});

describe('tidings check and bad configurations (exit 2, one line per wrong field)', {
  concurrency: 4,
}, () => {
  test('check accepts a good config', async () => {
    const file = await tempConfig({
      ...GOOD,
      engine: { type: 'redis', url: 'redis://:secret@127.0.0.1:6379' },
    });
    const result = await runTidings(['check', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      `${file}: OK (listen 127.0.0.1:0, path /tidings, engine redis redis://127.0.0.1:6379 prefix tidings:, api on at /api, auth none, hooks none, publish closed, subscribe open)\n`,
    );
    assert.ok(!result.stdout.includes('secret'), 'no password from the URL');
  });

  test('check refuses a weak API key; with allowWeakApiKey it passes with a warning', async () => {
    const weak = await tempConfig({ ...GOOD, apiKey: ' '.repeat(16) });
    const refused = await runTidings(['check', '--config', weak]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /config\.apiKey: expected a key without spaces/);
    const repeated = await tempConfig({ ...GOOD, apiKey: 'a'.repeat(16) });
    assert.match(
      (await runTidings(['check', '--config', repeated])).stderr,
      /config\.apiKey: expected a strong key/,
    );
    const allowed = await tempConfig({
      ...GOOD,
      apiKey: 'a'.repeat(16),
      allowWeakApiKey: true,
      publish: true,
    });
    const result = await runTidings(['check', '--config', allowed]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /publish open, subscribe open\)\n$/);
    assert.equal(
      result.stderr,
      'warning: apiKey is weak (shorter than 32 characters); accepted because allowWeakApiKey is true\n',
    );
  });

  const cases: { name: string; config: unknown; env?: Record<string, string>; lines: string[] }[] = [
    {
      name: 'a redis engine with an http URL',
      config: { engine: { type: 'redis', url: 'http://127.0.0.1:6379' } },
      lines: ['config.engine.url: expected a redis:// URL'],
    },
    {
      name: 'an unknown engine type',
      config: { engine: { type: 'kafka' } },
      lines: ['config.engine.type: expected "sqlite", "memory", "redis" or "nats"'],
    },
    {
      name: 'a misspelt field, a port as text, a short API key',
      config: { prot: 8080, port: '8080', apiKey: 'short' },
      lines: [
        'config.port: expected an integer from 0 to 65535',
        'config.prot: unknown field',
        'config.apiKey: expected a strong key (shorter than 32 characters): at least 32 random characters, e.g. `openssl rand -base64 32` (or set allowWeakApiKey: true)',
      ],
    },
    {
      name: 'JWT with both a secret and a public key, and a short secret',
      config: { jwt: { secret: 'too-short', publicKey: 'not a key' } },
      lines: [
        'config.jwt.secret: expected a secret of at least 32 bytes',
        'config.jwt.publicKey: expected a PEM public key ("-----BEGIN PUBLIC KEY-----…")',
        'config.jwt: expected exactly one of "secret" or "publicKey" (keys are local: no JWKS URL)',
      ],
    },
    {
      name: 'hooks with a bad URL and timeout, history with a bad pattern',
      config: {
        hooks: { connect: 'ftp://backend/connect', timeoutMs: 0 },
        history: { 'chat room': { size: 10 }, 'chat.*': { size: -1 } },
      },
      lines: [
        'config.history["chat room"]: invalid key: expected a channel name or pattern such as "chat.*"',
        'config.history["chat.*"].size: expected a positive number of messages',
        'config.hooks.connect: expected an http:// or https:// URL',
        'config.hooks.timeoutMs: expected a number of milliseconds from 1 to 60000',
      ],
    },
    {
      name: 'origins with a path, NATS servers with a space',
      config: {
        origins: ['https://app.example.com/app'],
        engine: { type: 'nats', servers: ['nats://a:4222', 'b c'] },
      },
      lines: [
        'config.engine.servers[1]: expected a NATS server such as "nats://127.0.0.1:4222" or "127.0.0.1:4222"',
        'config.origins[0]: expected an origin such as "https://app.example.com" (scheme, host, port; no path)',
      ],
    },
    {
      name: 'a bad value from the environment names the variable',
      config: { port: 8080 },
      env: { TIDINGS_PORT: 'eighty', TIDINGS_ENGINE_URL: 'redis//nohost', TIDINGS_ENGINE: 'redis' },
      lines: [
        'config.port: expected an integer from 0 to 65535 (from TIDINGS_PORT)',
        'config.engine.url: expected a redis:// URL (from TIDINGS_ENGINE_URL)',
      ],
    },
    {
      name: 'the API path on top of the client path',
      config: { path: '/rt', apiPath: '/rt/api' },
      lines: ['config.apiPath: expected a path apart from path "/rt"'],
    },
  ];
  for (const { name, config, env, lines } of cases) {
    test(name, async () => {
      const file = await tempConfig(config);
      for (const command of ['check', 'serve']) {
        const result = await runTidings([command, '--config', file], env);
        assert.equal(result.code, 2, `${command}: ${result.stderr}`);
        assert.equal(result.stderr, [`tidings: invalid configuration (${file})`, ...lines, ''].join('\n'));
      }
    });
  }

  test('invalid JSON says where', async () => {
    const file = await tempConfig('{\n  "port": 8080,\n  "host": "x",,\n}');
    const result = await runTidings(['check', '--config', file]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^tidings: invalid configuration \(.*\)\nconfig: .* is not valid JSON at line 3, column 15: /,
    );
  });

  test('a missing file, an unknown option, an unknown command', async () => {
    const missing = await runTidings(['check', '--config', '/nonexistent/tidings.json']);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      'tidings: invalid configuration (/nonexistent/tidings.json)\nconfig: cannot read /nonexistent/tidings.json (ENOENT)\n',
    );
    const option = await runTidings(['serve', '--prot', '80']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^tidings: Unknown option '--prot'/);
    const command = await runTidings(['start']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /^tidings: unknown command "start"\nUsage:/);
    const help = await runTidings(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage:\n {2}tidings serve/);
  });

  test('a port already in use fails the start with exit 1', async () => {
    const first = await serve(['--port', '0', '--host', '127.0.0.1']);
    const port = new URL(first.url).port;
    const second = await runTidings(['serve', '--port', port, '--host', '127.0.0.1']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /could not start: listen EADDRINUSE/);
  });
});
