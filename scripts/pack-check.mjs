// The pack check (`npm run pack-check`; the last step of `npm test`): what a user installs works in the
// user's own app. Packs every published package, installs the tarballs into a fresh app outside the
// repository, and proves there: an ESM and a CommonJS round trip (server + client over HTTP with the
// global fetch, 20 messages in order), a TypeScript consumer under node16 and bundler resolution with
// strict flags (no @types/ws, no DOM lib for server code), an esbuild bundle of the client, the
// <script> build in Chromium, `tidings serve` answering /healthz with no build tool installed, the round
// trips under the oldest supported Node (20.10) and a current one (22); plus publint and attw.
//
// `node scripts/pack-check.mjs [--no-build] [--keep]`: --no-build when `npm run build` just ran,
// --keep to leave the temporary app for a look. Nodes 20.10 and 22 are downloaded once from the npm
// registry (package node-<platform>-<arch>) into TIDINGS_CACHE (default ~/.cache/tidings).
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const PACKAGES = ['protocol', 'engine', 'server', 'client', 'react', 'redis', 'nats', 'sqlite', 'standalone'];
/** A current Node, and the oldest the packages' engines allow (no require() of ES modules there). */
const CURRENT_NODE = '22';
const OLDEST_NODE = '20.10.0';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = new Set(process.argv.slice(2));
const started = performance.now();
const timings = [];

async function step(name, fn) {
  const t0 = performance.now();
  try {
    return await fn();
  } catch (error) {
    console.error(`pack check: ${name} failed`);
    throw error;
  } finally {
    const seconds = (performance.now() - t0) / 1000;
    timings.push(`${name} ${seconds.toFixed(1)} s`);
    console.log(`pack check: ${name} (${seconds.toFixed(1)} s)`);
  }
}

/** Runs a command; on failure its output is part of the error. */
async function sh(file, argv, options = {}) {
  try {
    return await run(file, argv, { maxBuffer: 64 * 1024 * 1024, ...options });
  } catch (error) {
    throw new Error(`${file} ${argv.join(' ')} failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`, {
      cause: error,
    });
  }
}

let app;

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'tidings-pack-'));
  const tarballs = join(work, 'tarballs');
  app = join(work, 'app');
  await mkdir(tarballs);
  await mkdir(app);

  try {
    if (!args.has('--no-build')) {
      await step('build', () => sh(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root }));
    }

    const packed = await step('npm pack', async () => {
      const { stdout } = await sh(
        'npm',
        [
          'pack',
          '--json',
          '--pack-destination',
          tarballs,
          ...PACKAGES.map((p) => `--workspace=packages/${p}`),
        ],
        { cwd: root },
      );
      return JSON.parse(stdout).map((p) => ({
        name: p.name,
        file: join(tarballs, p.filename),
        size: p.size,
      }));
    });
    for (const p of packed) console.log(`  ${p.name}: ${(p.size / 1024).toFixed(1)} KB packed`);

    const lint = step('publint + attw', () => lintPackages(packed));

    await step('install the tarballs in a fresh app', async () => {
      const rootPkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
      const reactPkg = JSON.parse(await readFile(join(root, 'packages/react/package.json'), 'utf8'));
      await writeFile(
        join(app, 'package.json'),
        JSON.stringify(
          {
            name: 'tidings-pack-check-app',
            private: true,
            dependencies: {
              ...Object.fromEntries(packed.map((p) => [p.name, `file:${p.file}`])),
              react: reactPkg.devDependencies.react,
              'react-dom': reactPkg.devDependencies['react-dom'],
            },
            // Types for node:* only; deliberately no @types/ws: our declarations must not need it.
            devDependencies: {
              '@types/node': rootPkg.devDependencies['@types/node'],
              // A React app's own: @tidings/react has React as a peer.
              '@types/react': reactPkg.devDependencies['@types/react'],
            },
            // npm 11 runs install scripts only where approved: better-sqlite3 builds its native addon
            // (a user's app approves it the same way; packages/sqlite/README.md says so).
            allowScripts: rootPkg.allowScripts,
          },
          null,
          2,
        ),
      );
      await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
        cwd: app,
        env: { ...process.env, ...(await sqlitePrebuild(work)) },
      });
    });

    for (const [name, text] of Object.entries(FIXTURES)) await writeFile(join(app, name), text);

    await step(`ESM round trip (Node ${process.versions.node})`, () =>
      sh(process.execPath, ['round-trip.mjs'], { cwd: app }),
    );
    await step(`CommonJS round trip (Node ${process.versions.node})`, () =>
      sh(process.execPath, ['round-trip.cjs'], { cwd: app }),
    );
    await step('@tidings/react rendered on the server (ESM and CommonJS)', async () => {
      await sh(process.execPath, ['react-ssr.mjs'], { cwd: app });
      await sh(process.execPath, ['react-ssr.cjs'], { cwd: app });
    });
    // Type checking is CPU work; the steps after it mostly wait on sockets and child processes.
    const types = step('TypeScript consumers (node16, bundler, browser)', () =>
      // One tsc process for the three projects: @types/node and the libs are parsed once.
      sh(
        process.execPath,
        [
          join(root, 'node_modules/typescript/bin/tsc'),
          '-b',
          'tsconfig.node16.json',
          'tsconfig.bundler.json',
          'tsconfig.browser.json',
        ],
        { cwd: app },
      ),
    );
    // Awaited at the end; until then a failure of theirs must not surface as an unhandled rejection.
    for (const pending of [types, lint]) pending.catch(() => {});
    await step('esbuild bundle of the client', async () => {
      const { build } = await import('esbuild');
      const result = await build({
        entryPoints: [join(app, 'browser.ts')],
        absWorkingDir: app,
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'browser',
        write: false,
        logLevel: 'silent',
      });
      const text = result.outputFiles[0].text;
      if (/\bimport\s*[{*"'\w]|\brequire\(/.test(text)) throw new Error('the bundle still imports something');
    });
    await step('the <script> build in Chromium, connected', () => scriptTagInChromium());
    await step('tidings serve from the installed package', () => standalone());
    await step(`ESM and CommonJS round trips (Node ${OLDEST_NODE})`, async () => {
      const node = await nodeFromRegistry(OLDEST_NODE);
      await sh(node, ['round-trip.mjs'], { cwd: app });
      await sh(node, ['round-trip.cjs'], { cwd: app });
    });
    await step(`ESM round trip (Node ${CURRENT_NODE})`, async () => {
      const node = await nodeFromRegistry(CURRENT_NODE);
      await sh(node, ['round-trip.mjs'], { cwd: app });
    });
    await types;
    await lint;
    console.log(
      `pack check passed in ${((performance.now() - started) / 1000).toFixed(1)} s (${timings.join(', ')})`,
    );
  } finally {
    if (args.has('--keep')) console.log(`pack check: the app is in ${app}`);
    else await rm(work, { recursive: true, force: true });
  }
}

/**
 * publint and attw (arethetypeswrong) on each tarball, in this process: any message fails the check.
 * attw ignores TypeScript's old `node10` resolution, which cannot see subpath exports (engines say
 * Node >= 20.10 anyway), and skips the client's browser bundles: scripts, not modules to type.
 */
async function lintPackages(packed) {
  const { publint } = await import('publint');
  const { formatMessage } = await import('publint/utils');
  const { checkPackage, createPackageFromTarballData } = await import('@arethetypeswrong/core');
  const failures = [];
  for (const p of packed) {
    const tarball = await readFile(p.file);
    const data = new Uint8Array(tarball.buffer, tarball.byteOffset, tarball.byteLength);
    const { messages, pkg } = await publint({
      pack: { tarball: data.slice().buffer },
      level: 'suggestion',
      strict: true,
    });
    for (const m of messages)
      failures.push(`${p.name} publint ${m.type}: ${formatMessage(m, pkg) ?? m.code}`);
    const result = await checkPackage(createPackageFromTarballData(data), {
      excludeEntrypoints: p.name === '@tidings/client' ? ['./tidings.min.js', './tidings.esm.min.js'] : [],
    });
    if (!result.types) failures.push(`${p.name} attw: no types`);
    for (const problem of result.problems ?? []) {
      if (problem.resolutionKind !== 'node10') failures.push(`${p.name} attw: ${JSON.stringify(problem)}`);
    }
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

/**
 * The IIFE file, as installed, in a real browser: a page loads it with a <script> tag, `Tidings.connect`
 * reaches a server built from the installed @tidings/server (its CommonJS build), messages arrive.
 */
async function scriptTagInChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const { chromium } = await import('playwright-core');
  const requireInApp = createRequire(join(app, 'package.json'));
  const { attach, createHub } = requireInApp('@tidings/server');
  const script = await readFile(requireInApp.resolve('@tidings/client/tidings.min.js'), 'utf8');
  const hub = createHub();
  const server = createServer((request, response) => {
    if (request.url === '/tidings.min.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else {
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><meta charset="utf-8"><title>t</title><script src="/tidings.min.js"></script>');
    }
  });
  attach(server, { hub });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.evaluate(`(() => {
      window.got = [];
      window.client = Tidings.connect(location.origin);
      window.sub = window.client.subscribe('page', (m) => window.got.push(m.data));
    })()`);
    await page.waitForFunction('window.sub.state === "subscribed"', null, { timeout: 10_000 });
    for (let n = 1; n <= 3; n++) await hub.publish('page', n);
    await page.waitForFunction('window.got.length >= 3', null, { timeout: 10_000 });
    const got = await page.evaluate('window.got');
    if (JSON.stringify(got) !== '[1,2,3]') throw new Error(`the page received ${JSON.stringify(got)}`);
  } finally {
    await browser.close();
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/**
 * `tidings serve` from the app's node_modules/.bin: starts, answers /healthz, serves the client script
 * and the dashboard's prebuilt script; no tsx or esbuild installed.
 */
async function standalone() {
  const { stdout } = await sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: app });
  const tools = stdout
    .split('\n')
    .filter((line) => /[/\\]node_modules[/\\](tsx|esbuild|@esbuild[/\\][^/\\]+)$/.test(line));
  if (tools.length > 0) throw new Error(`build tools installed as dependencies:\n${tools.join('\n')}`);
  const child = spawn(
    join(app, 'node_modules/.bin/tidings'),
    ['serve', '--port', '0', '--host', '127.0.0.1'],
    {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TIDINGS_ADMIN_PASSWORD: 'pack-check-admin-password' },
    },
  );
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(
        () => reject(new Error(`tidings serve did not listen in 15 s\n${out}\n${err}`)),
        15_000,
      );
      child.stderr.on('data', (chunk) => (err += chunk));
      child.stdout.on('data', (chunk) => {
        out += chunk;
        for (const line of out.split('\n')) {
          try {
            const entry = JSON.parse(line);
            if (entry.msg === 'listening') {
              clearTimeout(timer);
              resolve(entry.url);
            }
          } catch {
            // not a log line (yet)
          }
        }
      });
      child.on('exit', (code) => reject(new Error(`tidings serve exited (${code})\n${out}\n${err}`)));
    });
    const health = await fetch(`${url}/healthz`);
    if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
    const script = await fetch(`${url}/tidings.js`);
    const text = await script.text();
    if (script.status !== 200 || !text.includes('Tidings'))
      throw new Error(`/tidings.js answered ${script.status}`);
    const admin = await fetch(`${url}/admin/assets/admin.js`);
    if (admin.status !== 200 || (await admin.text()).length < 1_000)
      throw new Error(`/admin/assets/admin.js answered ${admin.status}`);
  } finally {
    child.kill('SIGTERM');
  }
}

/**
 * better-sqlite3 installs a prebuilt addon, downloaded from GitHub, which this machine cannot reach;
 * without one it compiles for minutes. The addon `npm ci` built for the repository stands in for that
 * download: packed as the prebuilt file prebuild-install looks for, in a folder its
 * `npm_config_better_sqlite3_local_prebuilds` setting names. Same version, same Node ABI.
 */
async function sqlitePrebuild(work) {
  const require = createRequire(join(root, 'packages/sqlite/package.json'));
  const pkgFile = require.resolve('better-sqlite3/package.json');
  const { version } = JSON.parse(await readFile(pkgFile, 'utf8'));
  const dir = join(pkgFile, '..');
  if (!existsSync(join(dir, 'build/Release/better_sqlite3.node'))) return {};
  const prebuilds = join(work, 'prebuilds');
  await mkdir(prebuilds, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await sh('tar', ['-czf', join(prebuilds, name), '-C', dir, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

/** A Node binary from the npm registry (package node-<platform>-<arch>), installed once into the cache. */
async function nodeFromRegistry(version) {
  const cache = join(process.env.TIDINGS_CACHE ?? join(homedir(), '.cache/tidings'), `node${version}`);
  const pkg = `node-${process.platform}-${process.arch}`;
  const node = join(cache, 'node_modules', pkg, 'bin/node');
  const ok = await stat(node).then(
    () => true,
    () => false,
  );
  if (!ok) {
    await mkdir(cache, { recursive: true });
    await sh('npm', [
      'install',
      '--no-audit',
      '--no-fund',
      '--no-save',
      '--prefix',
      cache,
      `${pkg}@${version}`,
    ]);
  }
  const { stdout } = await sh(node, ['--version']);
  console.log(`  ${stdout.trim()} from ${cache}`);
  return node;
}

/** The user's app: written into the temporary directory after the install. */
const FIXTURES = {
  'round-trip.mjs': roundTrip('esm'),
  'round-trip.cjs': roundTrip('cjs'),
  // A server-only consumer: strict flags, no DOM lib, no @types/ws.
  'server.ts': `import { createServer } from 'node:http';
import { attach, createHub, type Hub, jwtAuth, type Message, TidingsError } from '@tidings/server';
import { type Engine, MemoryEngine } from '@tidings/engine';
import { RedisEngine } from '@tidings/redis';
import { NatsEngine } from '@tidings/nats';
import { startStandalone, type StandaloneOptions } from '@tidings/standalone';
import { connect, type Client } from '@tidings/client';

// An engine typed against @tidings/engine is the server's engine: one seam, not two copies of it.
const engine: Engine = new MemoryEngine();
const hub: Hub = createHub({ engine });
const server = createServer();
attach(server, { hub, authenticate: jwtAuth({ secret: 'a-secret-of-at-least-32-characters!!' }) });
hub.subscribe('orders.*', (m: Message) => console.log(m.channel, m.offset, m.data));
const client: Client = connect('http://127.0.0.1:1', { transports: ['stream'] });
const engines: unknown[] = [RedisEngine, NatsEngine, startStandalone];
export const used: unknown[] = [engines, client, TidingsError, {} as StandaloneOptions];
`,
  // A browser app: the DOM lib, no @types/node.
  'browser.ts': `import { connect, TidingsError, type Message } from '@tidings/client';

const client = connect(location.origin, { persist: sessionStorage });
const sub = client.subscribe('orders.42', (m: Message) => {
  document.title = String(m.data);
});
client.publish('orders.42', { note: 'hi' }).catch((e: unknown) => e instanceof TidingsError);
sub.unsubscribe();
`,
  // A React component typed with a channel map, checked with the browser's libs.
  'react-app.ts': `import { connect } from '@tidings/client';
import { createElement, type ReactNode } from 'react';
import { TidingsProvider, typedHooks, useConnectionState } from '@tidings/react';

type Channels = { 'chat.*': { user: string; text: string } };
const { useChannel, usePresence } = typedHooks<Channels>();
const client = connect<Channels>(location.origin);

function Room({ id }: { id: string }): ReactNode {
  const { messages, status, publish } = useChannel(\`chat.\${id}\`, { since: 'snapshot', limit: 50 });
  const { members } = usePresence(\`chat.\${id}\`);
  const state = useConnectionState();
  const send = () => publish({ user: 'ada', text: 'hi' });
  return createElement('p', { onClick: send }, state, status, members.length, messages.map((m) => m.data.text).join());
}
export const app = createElement(TidingsProvider, { client }, createElement(Room, { id: 'lobby' }));
`,
  'react-ssr.mjs': reactSsr('esm'),
  'react-ssr.cjs': reactSsr('cjs'),
  'tsconfig.node16.json': tsconfig(
    { module: 'node16', moduleResolution: 'node16', lib: ['ES2022'], types: ['node'] },
    ['server.ts'],
  ),
  'tsconfig.bundler.json': tsconfig(
    { module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022'], types: ['node'] },
    ['server.ts'],
  ),
  'tsconfig.browser.json': tsconfig(
    { module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [] },
    ['browser.ts', 'react-app.ts'],
  ),
};

/**
 * The installed @tidings/react and react-dom/server: a component with the hooks renders its first state
 * (nothing connects on the server), the client untouched by the render.
 */
function reactSsr(format) {
  const imports =
    format === 'esm'
      ? `import { connect } from '@tidings/client';
import { TidingsProvider, useChannel, useConnectionState } from '@tidings/react';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';`
      : `const { connect } = require('@tidings/client');
const { TidingsProvider, useChannel, useConnectionState } = require('@tidings/react');
const { createElement } = require('react');
const { renderToString } = require('react-dom/server');`;
  return `${imports}
function Log() {
  const { messages, status } = useChannel('chat.lobby', { since: 'snapshot' });
  return createElement('p', null, useConnectionState(), ' ', status, ' ', messages.length);
}
const client = connect('http://127.0.0.1:1', { transports: ['stream'] });
const html = renderToString(createElement(TidingsProvider, { client }, createElement(Log)));
client.close();
if (html !== '<p>connecting<!-- --> <!-- -->subscribing<!-- --> <!-- -->0</p>') throw new Error(html);
`;
}

function tsconfig(options, files) {
  return JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noImplicitOverride: true,
        noImplicitReturns: true,
        noPropertyAccessFromIndexSignature: true,
        noFallthroughCasesInSwitch: true,
        isolatedModules: true,
        ...options,
      },
      files,
    },
    null,
    2,
  );
}

/** Server (createHub + attach on node:http) and client (HTTP stream transport over the global fetch). */
function roundTrip(kind) {
  const imports =
    kind === 'esm'
      ? `import { createServer } from 'node:http';
import { attach, createHub } from '@tidings/server';
import { connect } from '@tidings/client';`
      : `const { createServer } = require('node:http');
const { attach, createHub } = require('@tidings/server');
const { connect } = require('@tidings/client');`;
  return `${imports}

async function main() {
  const hub = createHub();
  const server = createServer((request, response) => response.writeHead(404).end());
  // \`publish: true\` lets clients publish where the server makes that opt-in; ignored otherwise.
  const options = { hub, publish: true };
  attach(server, options);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(\`http://127.0.0.1:\${server.address().port}\`, { transports: ['stream'] });
  const received = [];
  let done;
  const all = new Promise((resolve) => (done = resolve));
  const sub = client.subscribe('orders.42', (m) => {
    received.push(m.data.n);
    if (received.length === 20) done();
  });
  await new Promise((resolve) => sub.on('subscribed', resolve));
  // Ten from the server, ten from the client, one after another.
  for (let n = 1; n <= 10; n++) await hub.publish('orders.42', { n });
  for (let n = 11; n <= 20; n++) await client.publish('orders.42', { n });
  const timeout = setTimeout(() => {
    console.error('received', received);
    process.exit(1);
  }, 10_000);
  await all;
  clearTimeout(timeout);
  const expected = Array.from({ length: 20 }, (_, i) => i + 1);
  if (JSON.stringify(received) !== JSON.stringify(expected)) throw new Error('out of order: ' + received);
  client.close();
  await hub.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  console.log('${kind} round trip on Node ' + process.version + ': 20 messages in order');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;
}

await main();
