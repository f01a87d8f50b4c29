// The hooks in an app built as users build theirs: a JSX page (./vite-app) bundled by Vite with React 19's
// development build (StrictMode runs every effect twice there), served from its own origin next to a
// real Tidings server, in Chromium. Each message is counted on the page (once, in order) and each
// subscribe/unsubscribe frame on the wire: StrictMode's double mount, unmounting mid-stream, two
// components on one channel, and a reconnect.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, ErrorCode, isTidingsError } from '@tidings/client';
import { FrameType } from '@tidings/protocol';
import { createHub } from '@tidings/server';
import { type Listening, listen, waitFor } from '@tidings/testing';
import type { Browser, Page } from 'playwright-core';
import { build, defaultClientConditions } from 'vite';
import WebSocket from 'ws';
import { browserMissing, launchBrowser } from '../../client/test/support/browser.js';
import type { AppState } from './vite-app/main.js';

const skip = browserMissing();
// A bound for failures, not a pace: on a loaded 2-core machine with two Chromiums, React's development
// build may take over 10 s to render a 300-item log one message at a time (seen with both files running).
// Generous: React's development build renders every message, slowly on a loaded CI machine.
const TIMEOUT_MS = 45_000;
const APP = new URL('./vite-app/', import.meta.url).pathname;

/**
 * Builds the app into `outDir` with Vite's JS API. `@tidings/source` makes Vite take every @tidings/*
 * package from its TypeScript sources, as the tests in Node do. Vite sets `process.env.NODE_ENV` for the
 * whole process when it is unset; it is put back so that the build leaves the test process as it was.
 */
async function buildApp(outDir: string): Promise<void> {
  const nodeEnv = process.env.NODE_ENV;
  try {
    await build({
      root: APP,
      configFile: false,
      logLevel: 'warn',
      mode: 'development',
      // React's development build: the one where StrictMode mounts each component twice.
      define: { 'process.env.NODE_ENV': JSON.stringify('development') },
      resolve: { conditions: ['@tidings/source', ...defaultClientConditions] },
      build: { outDir, emptyOutDir: true, reportCompressedSize: false },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A static file server for the built app, on its own origin (as a CDN or `vite preview` would be). */
async function serveStatic(dir: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether one client can subscribe twice to a channel (shared subscriptions); without, ALREADY_SUBSCRIBED. */
async function sharesSubscriptions(server: Listening): Promise<boolean> {
  const client = connect(server.url, { WebSocket });
  try {
    client.subscribe('probe', () => {});
    client.subscribe('probe', () => {});
    return true;
  } catch (error) {
    if (isTidingsError(error) && error.code === ErrorCode.alreadySubscribed) return false;
    throw error;
  } finally {
    client.close();
  }
}

/** The subscribe and unsubscribe frames the page sent, per WebSocket in the order they opened. */
type Wire = { subscribe: { channel: string; since?: unknown }[]; unsubscribe: string[] }[];

describe('@tidings/react in a Vite-built app, in Chromium, under StrictMode', { skip }, () => {
  let browser: Browser;
  let server: Listening;
  let site: { origin: string; close(): Promise<void> };
  let outDir: string;
  let shared = false;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'tidings-vite-'));
    [site, browser] = await Promise.all([buildApp(outDir).then(() => serveStatic(outDir)), launchBrowser()]);
    // The page is on another origin than the server: allowed by name, as an app served apart would be.
    server = await listen({
      authenticate: ({ token }) => ({ id: token ?? 'anonymous' }),
      origins: [site.origin],
      // The app may take longer to load than the default history (100 messages) lasts under the stream.
      hub: createHub({ defaultHistory: { size: 1_000 }, onError: () => {} }),
    });
    shared = await sharesSubscriptions(server);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await site?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  /** Opens the app with these query parameters; records its frames; fails the test on a page error. */
  async function open(
    t: { after(fn: () => unknown): void },
    params: Record<string, string>,
  ): Promise<{ page: Page; wire: Wire }> {
    const context = await browser.newContext();
    t.after(() => context.close());
    // tsx compiles the functions given to `evaluate` with keepNames, which calls a Node-only helper.
    await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    t.after(() => assert.deepEqual(errors, [], 'no error in the page'));
    const wire: Wire = [];
    page.on('websocket', (socket) => {
      const frames: Wire[number] = { subscribe: [], unsubscribe: [] };
      wire.push(frames);
      socket.on('framesent', ({ payload }) => {
        const frame = JSON.parse(String(payload));
        if (frame.type === FrameType.subscribe)
          frames.subscribe.push({ channel: frame.channel, since: frame.since });
        if (frame.type === FrameType.unsubscribe) frames.unsubscribe.push(frame.channel);
      });
    });
    const query = new URLSearchParams({ url: server.url, ...params });
    await page.goto(`${site.origin}/?${query}`);
    return { page, wire };
  }

  function app(page: Page): Promise<AppState> {
    return page.evaluate(() => (window as unknown as { app: AppState }).app);
  }

  /** What each log renders: the data of its <li>s, in order. */
  function rendered(page: Page, index = 0): Promise<unknown[]> {
    return page.$$eval(`[data-log="${index}"] li`, (items) => items.map((li) => JSON.parse(li.textContent!)));
  }

  async function waitRendered(page: Page, count: number, index = 0): Promise<void> {
    await page.waitForFunction(
      ([index, count]) => document.querySelectorAll(`[data-log="${index}"] li`).length >= count,
      [index, count] as const,
      { timeout: TIMEOUT_MS },
    );
  }

  function waitSubscribed(page: Page, index = 0): Promise<unknown> {
    return page.waitForSelector(`[data-log="${index}"][data-status="subscribed"]`, {
      state: 'attached',
      timeout: TIMEOUT_MS,
    });
  }

  /** Publishes from..from+count-1 from the server, one every ~2 ms. */
  async function publishing(channel: string, from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) {
      await server.hub.publish(channel, i);
      await sleep(2);
    }
  }

  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
  const subscribes = (wire: Wire, channel: string) =>
    wire.map((frames) => frames.subscribe.filter((f) => f.channel === channel).length);
  const unsubscribes = (wire: Wire, channel: string) =>
    wire.map((frames) => frames.unsubscribe.filter((c) => c === channel).length);

  test('double mount mid-stream, then unmounted mid-stream: one subscription, each message once in order', async (t) => {
    const channel = 'strict';
    const start = await server.hub.publish(channel, 'before');
    const stream = publishing(channel, 0, 300);
    await sleep(50);
    // The app loads mid-stream, from the position before the stream; StrictMode mounts the log twice.
    const { page, wire } = await open(t, { token: 'ada', channel, since: `${start.epoch}:${start.offset}` });
    await stream;
    await waitRendered(page, 300);
    const state = await app(page);
    assert.equal(state.effects, 2, 'StrictMode ran the mount effect twice');
    assert.deepEqual(state.received, [range(0, 300)], 'onMessage: each once, in order');
    assert.deepEqual(await rendered(page), range(0, 300), 'rendered: each once, in order');
    assert.deepEqual(subscribes(wire, channel), [1], 'one subscribe frame through the double mount');
    assert.deepEqual(unsubscribes(wire, channel), [0]);

    // The log is unmounted mid-stream (the app stays): the wire subscription ends, what was seen is a gapless prefix.
    const more = publishing(channel, 300, 100);
    await waitRendered(page, 320);
    await page.click('#hide');
    await more;
    await waitFor(() => unsubscribes(wire, channel)[0] === 1, TIMEOUT_MS, 'the unsubscribe frame');
    const seen = (await app(page)).received[0];
    assert.ok(seen.length >= 320 && seen.length <= 400, `${seen.length} seen`);
    assert.deepEqual(seen, range(0, seen.length));
    assert.equal(await page.$('[data-log]'), null, 'the log is gone');
  });

  test('a reconnect: the log resumes where it was, nothing lost or twice; the state follows', async (t) => {
    const channel = 'reconnect';
    const { page, wire } = await open(t, { token: 'grace', channel });
    await waitSubscribed(page);
    await publishing(channel, 0, 20);
    await waitRendered(page, 20);
    assert.equal(server.tidings.disconnect('grace', { code: ErrorCode.shuttingDown, reconnect: true }), 1);
    // Published while the page is away or coming back: caught up from its position.
    await publishing(channel, 20, 20);
    await waitRendered(page, 40);
    await publishing(channel, 40, 10);
    await waitRendered(page, 50);
    const state = await app(page);
    assert.deepEqual(state.received, [range(0, 50)]);
    assert.deepEqual(await rendered(page), range(0, 50));
    assert.deepEqual(state.states, ['connecting', 'connected', 'connecting', 'connected']);
    assert.deepEqual(subscribes(wire, channel), [1, 1], 'one subscribe frame per connection');
    assert.equal(typeof wire[1].subscribe[0].since, 'object', 'the new connection resumes from a position');
  });

  test('two components on one channel: each gets every message once, one subscription on the wire', async (t) => {
    if (!shared) return t.skip('the client does not share subscriptions yet (ALREADY_SUBSCRIBED)');
    const channel = 'two';
    const { page, wire } = await open(t, { token: 'dan', channel, logs: '2' });
    await waitSubscribed(page, 0);
    await waitSubscribed(page, 1);
    await publishing(channel, 0, 50);
    await waitRendered(page, 50, 0);
    await waitRendered(page, 50, 1);
    assert.equal((await app(page)).effects, 4, 'StrictMode ran each mount effect twice');
    assert.deepEqual((await app(page)).received, [range(0, 50), range(0, 50)]);
    assert.deepEqual(await rendered(page, 0), range(0, 50));
    assert.deepEqual(await rendered(page, 1), range(0, 50));
    assert.deepEqual(subscribes(wire, channel), [1], 'one subscribe frame for both components');
    // Both unmount at once: the wire subscription ends with the last of them, once.
    await page.click('#hide');
    await waitFor(() => unsubscribes(wire, channel)[0] === 1, TIMEOUT_MS, 'the unsubscribe frame');
    await sleep(50);
    assert.deepEqual(unsubscribes(wire, channel), [1]);
  });
});
