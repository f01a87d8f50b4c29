// The plain-<script> build in Chromium, counted: a message every ~2 ms while the page subscribes and
// unsubscribes other channels, on every transport (channels and patterns: nothing lost or doubled), and
// a page that fell back while upgrades failed moves back to the WebSocket without loss.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransportName } from '@tidings/protocol';
import type { Browser, Page } from 'playwright-core';
import { measure } from '../scripts/build.mjs';
import { browserMissing, launchBrowser } from './support/browser.js';
import { startServer, type TestServer, type TestServerOptions } from './support/server.js';

const skip = browserMissing();
const MESSAGES = 300;

interface PageGlobals {
  Tidings: typeof import('@tidings/client');
  client: import('@tidings/client').Client;
  got: Record<string, number[]>;
  churning: boolean;
  changes: number;
}

function page(script: string) {
  return (request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/tidings.js')
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><meta charset="utf-8"><title>t</title><script src="/tidings.js"></script>');
  };
}

/** Connects in the page, subscribes to `names` and, with `churn`, keeps changing other subscriptions. */
async function start(p: Page, transports: string[], names: string[], churn: boolean): Promise<void> {
  await p.evaluate(
    ([transports, names, churn]) => {
      const w = window as unknown as PageGlobals;
      w.client = w.Tidings.connect(location.origin, {
        transports: transports as TransportName[],
        backoff: () => 20,
      });
      w.got = {};
      for (const name of names) {
        w.got[name] = [];
        w.client.subscribe(name, (message) => w.got[name].push(message.data as number));
      }
      w.changes = 0;
      w.churning = churn;
      const others: { unsubscribe(): void }[] = [];
      const step = () => {
        if (!w.churning) return;
        if (others.length < 3 || w.changes % 2 === 0)
          others.push(w.client.subscribe(`other.${w.changes}`, () => {}));
        else others.shift()!.unsubscribe();
        w.changes++;
        setTimeout(step, 25);
      };
      setTimeout(step, 25);
    },
    [transports, names, churn] as const,
  );
  await p.waitForFunction(() => (window as unknown as PageGlobals).client.state === 'connected', null, {
    timeout: 10_000,
  });
  await sleep(300);
}

async function publishAll(server: TestServer, each?: (i: number) => void): Promise<void> {
  for (let i = 0; i < MESSAGES; i++) {
    each?.(i);
    await server.hub.publish('feed', i);
    await server.hub.publish('feed.a', i);
    await sleep(2);
  }
}

async function counted(p: Page, label: string, names: string[]): Promise<void> {
  await p
    .waitForFunction(
      ([names, n]) =>
        (names as string[]).every(
          (name) => (window as unknown as PageGlobals).got[name].length >= (n as number),
        ),
      [names, MESSAGES] as const,
      { timeout: 5000 },
    )
    .catch(() => {});
  await sleep(100);
  const { got, changes } = await p.evaluate(() => {
    const w = window as unknown as PageGlobals;
    w.churning = false;
    return { got: w.got, changes: w.changes };
  });
  for (const name of names) {
    const list = got[name];
    const distinct = new Set(list).size;
    console.log(
      `chromium ${label} ${name}: published ${MESSAGES}, received ${list.length} (${MESSAGES - distinct} lost, ${list.length - distinct} doubled) during ${changes} changes`,
    );
    assert.deepEqual(
      list,
      Array.from({ length: MESSAGES }, (_, i) => i),
      `${label} ${name}`,
    );
  }
}

describe('in Chromium, counted', { skip }, () => {
  let browser: Browser;
  let script: string;

  before(async () => {
    script = (await measure('iife')).text;
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  for (const transport of Object.values(TransportName)) {
    test(`${transport}: subscription changes lose and double nothing`, async (t) => {
      const server = await startServer({ app: page(script) });
      t.after(() => server.close());
      const context = await browser.newContext();
      t.after(() => context.close());
      await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
      const p = await context.newPage();
      await p.goto(server.origin);
      const names = ['feed', ...(transport.endsWith('poll') ? [] : ['feed.*'])];
      await start(p, [transport], names, true);
      await publishAll(server);
      await counted(p, transport, names);
    });
  }

  test('after a fallback while upgrades failed, back to the WebSocket without loss', async (t) => {
    const options: TestServerOptions = { app: page(script), refuseWebSocket: true };
    const server = await startServer(options);
    t.after(() => server.close());
    const context = await browser.newContext();
    t.after(() => context.close());
    await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
    const p = await context.newPage();
    await p.goto(server.origin);
    await start(p, ['websocket', 'sse'], ['feed', 'feed.*'], false);
    assert.equal(await p.evaluate(() => (window as unknown as PageGlobals).client.transport), 'sse');
    await publishAll(server, (i) => {
      if (i === 100) options.refuseWebSocket = false;
    });
    await counted(p, 'sse → websocket', ['feed', 'feed.*']);
    // The handover may finish after the last message on a loaded machine: wait for it, bounded.
    await p.waitForFunction(
      () => (window as unknown as PageGlobals).client.transport === 'websocket',
      undefined,
      {
        timeout: 15_000,
      },
    );
  });
});
