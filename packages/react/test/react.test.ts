// The hooks in a real Chromium, rendered by react-dom's development build inside <StrictMode>, against a
// real server: StrictMode's double mount under continuous publishing, unmounting mid-stream, a
// reconnect, presence, and two components on one channel. Each message is counted: once, in order.
// The page comes from its own server on 127.0.0.1 (./browser.ts) and every connection is a WebSocket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, connect, ErrorCode } from '@tidings/client';
import { createHub } from '@tidings/server';
import { type Listening, listen, waitFor } from '@tidings/testing';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
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
  waitRendered as waitRenderedIn,
  waitSubscribed,
} from './browser.js';
import type { Harness, MountOptions } from './support/page.js';

const skip = browserMissing();

type Window = { harness: Harness };

/** The page's script: the hooks from src/, React's development build (StrictMode double-runs effects there). */
async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [new URL('./support/page.ts', import.meta.url).pathname],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@tidings/source'],
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'error',
  });
  return result.outputFiles[0].text;
}

describe('@tidings/react in Chromium, under StrictMode', { skip }, () => {
  let browser: Browser;
  let server: Listening;
  let site: Site;
  let shared = false;

  before(async () => {
    [site, browser] = await Promise.all([
      bundle().then((script) =>
        serve({
          '/index.html':
            '<!doctype html><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"><script src="/page.js"></script>',
          '/page.js': script,
        }),
      ),
      launchBrowser(),
    ]);
    server = await listen({
      authenticate: ({ token }) => ({ id: token ?? 'anonymous' }),
      // The page is on its own origin, allowed by name.
      origins: [site.origin],
      presence: ['room.*'],
      // The double mount starts from a position before a 300-message stream: the default history (100
      // messages) could no longer serve it when the page took long to get its subscription to the
      // server, and the server then rightly said `reset` and went on from the oldest message it kept.
      hub: createHub({ defaultHistory: { size: 10_000 }, onError: () => {} }),
    });
    shared = await sharesSubscriptions(server);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await site?.close();
  });

  /** The page with the harness loaded, from its own server on 127.0.0.1. */
  async function open(t: { after(fn: () => unknown): void }): Promise<Page> {
    const page = await openPage(browser, t);
    await page.goto(`${site.origin}/`);
    return page;
  }

  function mount(page: Page, options: Omit<MountOptions, 'url'>): Promise<void> {
    return page.evaluate((o) => (window as unknown as Window).harness.mount(o), {
      ...options,
      url: server.url,
    });
  }

  function harness(page: Page): Promise<Omit<Harness, 'mount' | 'unmount' | 'client'>> {
    return page.evaluate(() => {
      const { received, effects, subscribes, unsubscribes, states, transports } = (
        window as unknown as Window
      ).harness;
      return { received, effects, subscribes, unsubscribes, states, transports };
    });
  }

  function waitRendered(page: Page, count: number, index = 0): Promise<void> {
    return waitRenderedIn(page, count, index, async () => {
      const { received, states } = await harness(page);
      return `onMessage saw ${received[index]?.length}; states ${states}`;
    });
  }

  const publishing = (channel: string, from: number, count: number) =>
    publishingTo(server, channel, from, count);

  /** Waits for the page's first connection; then the transport of each connection so far. */
  async function transports(page: Page): Promise<string[]> {
    await page.waitForFunction(() => (window as unknown as Window).harness.transports.length > 0, null, {
      timeout: TIMEOUT_MS,
    });
    return (await harness(page)).transports;
  }

  test('double mount during continuous publishing: one subscription, each message once and in order', async (t) => {
    const page = await open(t);
    const channel = 'strict';
    const start = await server.hub.publish(channel, 'before');
    const stream = publishing(channel, 0, 300);
    await sleep(50);
    // Mounted mid-stream, from the position before the stream: StrictMode runs the effects twice.
    await mount(page, {
      token: 'ada',
      channel,
      since: { epoch: start.epoch, offset: start.offset },
      view: 'log',
    });
    await stream;
    await waitRendered(page, 300);
    const state = await harness(page);
    assert.deepEqual(state.transports, ['websocket'], 'on the WebSocket');
    assert.equal(state.effects, 2, 'StrictMode ran the mount effect twice');
    assert.equal(state.subscribes, 1, 'one client subscription through the double mount');
    assert.equal(state.unsubscribes, 0);
    assert.deepEqual(state.received[0], range(0, 300), 'onMessage: each once, in order');
    assert.deepEqual(await rendered(page), range(0, 300), 'rendered: each once, in order');

    // Unmounted mid-stream: the subscription ends, and what was seen stays a gapless prefix.
    const more = publishing(channel, 300, 100);
    await waitRendered(page, 320);
    await page.evaluate(() => (window as unknown as Window).harness.unmount());
    await more;
    const end = await harness(page);
    assert.equal(end.unsubscribes, 1, 'the subscription ended with the component');
    const seen = end.received[0];
    assert.ok(seen.length >= 320 && seen.length <= 400);
    assert.deepEqual(seen, range(0, seen.length));
  });

  test('a reconnect: the log resumes where it was, nothing lost or twice; the state follows', async (t) => {
    const page = await open(t);
    const channel = 'reconnect';
    await mount(page, { token: 'grace', channel, view: 'log' });
    await waitSubscribed(page);
    await publishing(channel, 0, 20);
    await waitRendered(page, 20);
    assert.equal(server.tidings.disconnect('grace', { code: ErrorCode.shuttingDown, reconnect: true }), 1);
    await publishing(channel, 20, 20);
    await waitRendered(page, 40);
    await publishing(channel, 40, 10);
    await waitRendered(page, 50);
    const state = await harness(page);
    assert.deepEqual(state.received[0], range(0, 50));
    assert.deepEqual(await rendered(page), range(0, 50));
    assert.deepEqual(state.states, ['connecting', 'connected', 'connecting', 'connected']);
    assert.deepEqual(state.transports, ['websocket', 'websocket'], 'both connections on the WebSocket');
    assert.equal(state.subscribes, 1);
  });

  test('presence: the members follow joins and leaves', async (t) => {
    const page = await open(t);
    await mount(page, { token: 'alice', channel: 'room.1', view: 'presence' });
    const members = (users: string) =>
      page.waitForFunction((users) => document.getElementById('members')?.textContent === users, users, {
        timeout: TIMEOUT_MS,
      });
    await members('alice');
    assert.equal(await page.getAttribute('#members', 'data-status'), 'subscribed');
    assert.deepEqual(await transports(page), ['websocket']);
    const bob: Client = connect(server.url, { WebSocket, token: 'bob' });
    t.after(() => bob.close());
    bob.subscribe('room.1', () => {});
    await members('alice,bob');
    bob.close();
    await members('alice');
  });

  test('a channel without presence says so', async (t) => {
    const page = await open(t);
    await mount(page, { token: 'carol', channel: 'lobby', view: 'presence' });
    await page.waitForSelector('#members[data-error="UNSUPPORTED"][data-status="failed"]', {
      state: 'attached',
      timeout: TIMEOUT_MS,
    });
    assert.deepEqual(await transports(page), ['websocket']);
  });

  test('two components on one channel each get every message once (needs shared subscriptions)', async (t) => {
    if (!shared) return t.skip('the client does not share subscriptions yet (ALREADY_SUBSCRIBED)');
    const page = await open(t);
    const channel = 'two';
    await mount(page, { token: 'dan', channel, view: 'two-logs' });
    await waitSubscribed(page, 1);
    await publishing(channel, 0, 50);
    await waitRendered(page, 50, 0);
    await waitRendered(page, 50, 1);
    const state = await harness(page);
    assert.deepEqual(state.transports, ['websocket']);
    assert.deepEqual(state.received, [range(0, 50), range(0, 50)]);
    assert.deepEqual(await rendered(page, 1), range(0, 50));
    await waitFor(async () => (await rendered(page, 0)).length === 50, TIMEOUT_MS, 'first log');
  });
});
