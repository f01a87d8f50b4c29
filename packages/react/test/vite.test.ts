// The hooks in an app built as users build theirs: a JSX page (./vite-app) bundled by Vite with React 19's
// development build (StrictMode runs every effect twice there), served from its own origin next to a
// real Tidings server, in Chromium. Each message is counted on the page (once, in order) and each
// subscribe/unsubscribe frame on the wire: StrictMode's double mount, unmounting mid-stream, two
// components on one channel, and a reconnect. Every connection is a WebSocket.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '@tidings/client';
import { FrameType } from '@tidings/protocol';
import { createHub } from '@tidings/server';
import { type Listening, listen, waitFor } from '@tidings/testing';
import type { Browser, Page } from 'playwright-core';
import { build, defaultClientConditions } from 'vite';
import {
  browserMissing,
  launchBrowser,
  openPage,
  publishing as publishingTo,
  range,
  rendered,
  type Site,
  serve,
  sharesSubscriptions,
  TIMEOUT_MS,
  waitRendered,
  waitSubscribed,
} from './browser.js';
import type { AppState } from './vite-app/main.js';

const skip = browserMissing();
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

/** The subscribe and unsubscribe frames the page sent, per WebSocket in the order they opened. */
type Wire = { subscribe: { channel: string; since?: unknown }[]; unsubscribe: string[] }[];

describe('@tidings/react in a Vite-built app, in Chromium, under StrictMode', { skip }, () => {
  let browser: Browser;
  let server: Listening;
  let site: Site;
  let outDir: string;
  let shared = false;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'tidings-vite-'));
    [site, browser] = await Promise.all([buildApp(outDir).then(() => serve(outDir)), launchBrowser()]);
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
    const page = await openPage(browser, t);
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

  const publishing = (channel: string, from: number, count: number) =>
    publishingTo(server, channel, from, count);
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
    assert.deepEqual(state.transports, ['websocket'], 'on the WebSocket');
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
    assert.deepEqual(state.transports, ['websocket', 'websocket'], 'both connections on the WebSocket');
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
    const state = await app(page);
    assert.deepEqual(state.transports, ['websocket'], 'on the WebSocket');
    assert.equal(state.effects, 4, 'StrictMode ran each mount effect twice');
    assert.deepEqual(state.received, [range(0, 50), range(0, 50)]);
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
