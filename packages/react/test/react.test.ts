// The hooks in a real Chromium, rendered by react-dom's development build inside <StrictMode>, against a
// real server: StrictMode's double mount under continuous publishing, unmounting mid-stream, a
// reconnect, presence, and two components on one channel. Each message is counted: once, in order.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, connect, ErrorCode, isTidingsError } from '@tidings/client';
import { createHub } from '@tidings/server';
import { type Listening, listen, waitFor } from '@tidings/testing';
import { build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import WebSocket from 'ws';
import { browserMissing, launchBrowser } from '../../client/test/support/browser.js';
import type { Harness, MountOptions } from './support/page.js';

const skip = browserMissing();
// A bound for failures, not a pace: on a loaded 2-core machine with two Chromiums, React's development
// build may take over 10 s to render a 300-item log one message at a time (seen with both files running).
// Generous: React's development build renders every message, slowly on a loaded CI machine.
const TIMEOUT_MS = 45_000;

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

describe('@tidings/react in Chromium, under StrictMode', { skip }, () => {
  let browser: Browser;
  let server: Listening;
  let script: string;
  let shared = false;

  before(async () => {
    [script, server, browser] = await Promise.all([
      bundle(),
      listen({
        authenticate: ({ token }) => ({ id: token ?? 'anonymous' }),
        presence: ['room.*'],
        // The double mount starts from a position before a 300-message stream: the default history (100
        // messages) could no longer serve it when the page took long to get its subscription to the
        // server, and the server then rightly said `reset` and went on from the oldest message it kept.
        hub: createHub({ defaultHistory: { size: 10_000 }, onError: () => {} }),
      }),
      launchBrowser(),
    ]);
    shared = await sharesSubscriptions(server);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A page at the server's origin (so the server's same-origin check passes) with the harness loaded. */
  async function open(t: { after(fn: () => unknown): void }): Promise<Page> {
    const context: BrowserContext = await browser.newContext();
    t.after(() => context.close());
    // tsx compiles the functions given to `evaluate` with keepNames, which calls a Node-only helper.
    await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
    const origin = new URL(server.url).origin;
    await context.route(`${origin}/`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: '<!doctype html><meta charset="utf-8"><title>t</title><script src="/page.js"></script>',
      }),
    );
    await context.route(`${origin}/page.js`, (route) =>
      route.fulfill({ contentType: 'text/javascript', body: script }),
    );
    const page = await context.newPage();
    const errors: Error[] = [];
    page.on('pageerror', (error) => errors.push(error));
    t.after(() => assert.deepEqual(errors, [], 'no error in the page'));
    await page.goto(`${origin}/`);
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
      const { received, effects, subscribes, unsubscribes, states } = (window as unknown as Window).harness;
      return { received, effects, subscribes, unsubscribes, states };
    });
  }

  /** What each log renders: the data of its <li>s, in order. */
  function rendered(page: Page, index = 0): Promise<unknown[]> {
    return page.$$eval(`[data-log="${index}"] li`, (items) => items.map((li) => JSON.parse(li.textContent!)));
  }

  async function waitRendered(page: Page, count: number, index = 0): Promise<void> {
    try {
      await page.waitForFunction(
        ([index, count]) => document.querySelectorAll(`[data-log="${index}"] li`).length >= count,
        [index, count] as const,
        { timeout: TIMEOUT_MS },
      );
    } catch (error) {
      // Say whether messages were missing or only slow to render.
      const shown = await rendered(page, index);
      const { received, states } = await harness(page);
      throw new Error(
        `${shown.length}/${count} rendered; onMessage saw ${received[index]?.length}; states ${states}; first rendered ${JSON.stringify(shown.slice(0, 3))}`,
        { cause: error },
      );
    }
  }

  /** Publishes 0..count-1 from the server, one every ~2 ms. */
  async function publishing(channel: string, from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) {
      await server.hub.publish(channel, i);
      await sleep(2);
    }
  }

  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

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
    await page.waitForSelector('[data-log="0"][data-status="subscribed"]', {
      state: 'attached',
      timeout: TIMEOUT_MS,
    });
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
  });

  test('two components on one channel each get every message once (needs shared subscriptions)', async (t) => {
    if (!shared) return t.skip('the client does not share subscriptions yet (ALREADY_SUBSCRIBED)');
    const page = await open(t);
    const channel = 'two';
    await mount(page, { token: 'dan', channel, view: 'two-logs' });
    await page.waitForSelector('[data-log="1"][data-status="subscribed"]', {
      state: 'attached',
      timeout: TIMEOUT_MS,
    });
    await publishing(channel, 0, 50);
    await waitRendered(page, 50, 0);
    await waitRendered(page, 50, 1);
    const state = await harness(page);
    assert.deepEqual(state.received, [range(0, 50), range(0, 50)]);
    assert.deepEqual(await rendered(page, 1), range(0, 50));
    await waitFor(async () => (await rendered(page, 0)).length === 50, TIMEOUT_MS, 'first log');
  });
});
