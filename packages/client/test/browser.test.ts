// The plain-<script> build in a real browser (Chromium), with the browser's own WebSocket,
// EventSource and fetch: every transport delivers and publishes, a reloaded page resumes from the
// positions it kept in sessionStorage, and a server without WebSocket leaves the page on SSE.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { TransportName } from '@tidings/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { measure } from '../scripts/build.mjs';
import { browserMissing, launchBrowser } from './support/browser.js';
import { startServer, type TestServer } from './support/server.js';

const skip = browserMissing();
const TIMEOUT_MS = 10_000;

/** What the test page keeps on `window`. */
interface PageGlobals {
  Tidings: typeof import('@tidings/client');
  client: import('@tidings/client').Client;
  subscription: import('@tidings/client').Subscription;
  received: unknown[];
  resets: number;
}

function page(script: string) {
  return (request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/tidings.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else {
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><meta charset="utf-8"><title>t</title><script src="/tidings.js"></script>');
    }
  };
}

/**
 * tsx compiles the functions given to `page.evaluate` with esbuild's keepNames, which wraps them in a
 * `__name` helper that only exists in Node; the page gets a stand-in.
 */
async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
  return context;
}

/** Connects in the page (positions kept in sessionStorage) and subscribes to `channel`. */
async function subscribeInPage(p: Page, channel: string, transports?: string[]): Promise<void> {
  await p.evaluate(
    ([channel, transports]) => {
      const w = window as unknown as PageGlobals;
      w.client = w.Tidings.connect(location.origin, {
        transports: transports as PageGlobals['client']['transport'][] | undefined,
        persist: sessionStorage,
        backoff: () => 50,
      });
      w.received = [];
      w.resets = 0;
      w.subscription = w.client.subscribe(channel as string, (message) => w.received.push(message.data));
      w.subscription.on('reset', () => w.resets++);
    },
    [channel, transports] as const,
  );
  await p.waitForFunction(
    () => (window as unknown as PageGlobals).subscription.state === 'subscribed',
    null,
    {
      timeout: TIMEOUT_MS,
    },
  );
}

function received(p: Page, count: number): Promise<unknown> {
  return p
    .waitForFunction((n) => (window as unknown as PageGlobals).received.length >= n, count, {
      timeout: TIMEOUT_MS,
    })
    .then(() => p.evaluate(() => (window as unknown as PageGlobals).received));
}

describe('in Chromium', { skip }, () => {
  let browser: Browser;
  let server: TestServer;
  let script: string;

  before(async () => {
    script = (await measure('iife')).text;
    server = await startServer({ app: page(script) });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const transport of Object.values(TransportName)) {
    test(`over ${transport}: delivers, publishes, and resumes after a page reload`, async () => {
      const context = await newContext(browser);
      try {
        const p = await context.newPage();
        await p.goto(server.origin);
        const channel = `browser.${transport}`;
        await subscribeInPage(p, channel, [transport]);
        assert.equal(await p.evaluate(() => (window as unknown as PageGlobals).client.transport), transport);
        for (let i = 0; i < 20; i++) await server.hub.publish(channel, i);
        const offset = await p.evaluate(
          (channel) =>
            (window as unknown as PageGlobals).client.publish(channel, 'from the page').then((a) => a.offset),
          channel,
        );
        assert.equal(offset, 21);
        assert.deepEqual(await received(p, 21), [
          ...Array.from({ length: 20 }, (_, i) => i),
          'from the page',
        ]);

        // Reloaded, the page resumes after offset 21: what was published meanwhile, nothing twice.
        await p.reload();
        for (let i = 21; i < 30; i++) await server.hub.publish(channel, i);
        await subscribeInPage(p, channel, [transport]);
        for (let i = 30; i < 35; i++) await server.hub.publish(channel, i);
        assert.deepEqual(
          await received(p, 14),
          Array.from({ length: 14 }, (_, i) => 21 + i),
        );
        assert.equal(await p.evaluate(() => (window as unknown as PageGlobals).resets), 0);
      } finally {
        await context.close();
      }
    });
  }

  test('a server that refuses WebSocket upgrades leaves the page on SSE, delivering', async (t) => {
    const noWebSocket = await startServer({ app: page(script), refuseWebSocket: true });
    t.after(() => noWebSocket.close());
    const context = await newContext(browser);
    t.after(() => context.close());
    const p = await context.newPage();
    await p.goto(noWebSocket.origin);
    await subscribeInPage(p, 'fallback');
    assert.equal(await p.evaluate(() => (window as unknown as PageGlobals).client.transport), 'sse');
    for (let i = 0; i < 5; i++) await noWebSocket.hub.publish('fallback', i);
    assert.deepEqual(await received(p, 5), [0, 1, 2, 3, 4]);
  });
});
