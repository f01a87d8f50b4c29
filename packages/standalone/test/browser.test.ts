import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { api, startInProcess } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: apt-get install -y chromium`;
if (missing && process.env.CI === 'true') throw new Error(missing);

/** The page of an app served by some other server (any language), on another origin than Tidings. */
function page(tidings: string): string {
  return `<!doctype html><meta charset="utf-8"><title>app</title>
<script src="${tidings}/tidings.js"></script>
<script>
  window.viaClient = [];
  window.viaEventSource = [];
  const client = Tidings.connect(${JSON.stringify(tidings)});
  client.subscribe('news', (message) => window.viaClient.push(message.data));
  const events = new EventSource(${JSON.stringify(`${tidings}/tidings/sse?channel=news`)});
  events.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === 'message') window.viaEventSource.push(frame.data);
  };
</script>`;
}

describe('a browser page of another app', { skip: missing }, () => {
  test('subscribes with the served client script and with a bare EventSource, across origins', async () => {
    const app = createServer();
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => app.close(() => resolve())));
    const appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    const { url } = await startInProcess({ origins: [appOrigin] });
    app.on('request', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(url));
    });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    after(() => browser.close());
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(appOrigin);

    // Both the client's WebSocket and the EventSource are subscribed before the backend publishes.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const channels = await api(url, 'GET', '/channels?pattern=news');
      const entry = (channels.body.channels as { subscribers: number }[])[0];
      if (entry !== undefined && entry.subscribers >= 2) break;
      assert.ok(
        Date.now() < deadline,
        `the page did not subscribe: ${JSON.stringify(channels.body)} ${errors}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(
      (await api(url, 'POST', '/publish', { channel: 'news', data: { headline: 'hello' } })).status,
      200,
    );
    await tab.waitForFunction(() => {
      const w = window as unknown as { viaClient: unknown[]; viaEventSource: unknown[] };
      return w.viaClient.length === 1 && w.viaEventSource.length === 1;
    });
    const received = await tab.evaluate(() => {
      const w = window as unknown as { viaClient: unknown[]; viaEventSource: unknown[] };
      return [w.viaClient, w.viaEventSource];
    });
    assert.deepEqual(received, [[{ headline: 'hello' }], [{ headline: 'hello' }]]);
    assert.deepEqual(errors, []);
  });
});
