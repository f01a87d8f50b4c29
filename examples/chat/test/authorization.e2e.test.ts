import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { attach, createHub } from '@tidings/server';
import type { Browser } from 'playwright-core';
import { buildBrowserClient } from '../build-client.js';
import { browserMissing, launch } from './browser.js';

const skip = browserMissing();

// A page that subscribes to a public and a secret channel and records what arrives.
const probe = `<!doctype html><script src="/tidings.js"></script><script>
  const params = new URLSearchParams(location.search);
  window.received = []; window.errors = [];
  const client = Tidings.connect(location.origin, { token: params.get('user'), transports: [params.get('transport')] });
  for (const channel of ['public', 'secret']) {
    const sub = client.subscribe(channel, (m) => window.received.push(m.channel + ':' + m.data));
    sub.on('error', (e) => window.errors.push(channel + ':' + e.code));
  }
</script>`;

describe('authorization in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  for (const transport of ['websocket', 'sse', 'stream', 'longpoll', 'poll']) {
    test(`a page that may not read a channel receives nothing from it (${transport})`, async (t) => {
      const client = await buildBrowserClient();
      const hub = createHub();
      const server = createServer((req, res) => {
        if (req.url === '/tidings.js') return res.end(client);
        res.setHeader('content-type', 'text/html');
        res.end(probe);
      });
      const tidings = attach(server, {
        hub,
        authenticate: ({ token }) => (token ? { id: token } : null),
        canSubscribe: (identity, channel) => channel !== 'secret' || identity.id === 'boss',
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(async () => {
        await tidings.close({ deadlineMs: 500 });
        server.closeAllConnections();
        server.close();
        await hub.close();
      });
      const { port } = server.address() as AddressInfo;
      const eve = await browser.newPage();
      const boss = await browser.newPage();
      await eve.goto(`http://127.0.0.1:${port}/?user=eve&transport=${transport}`);
      await boss.goto(`http://127.0.0.1:${port}/?user=boss&transport=${transport}`);
      await eve.waitForFunction(
        () => (window as unknown as { errors: string[] }).errors.length > 0,
        undefined,
        { timeout: 15_000 },
      );
      // Give both pages time to be subscribed before publishing.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 1; i <= 3; i++) {
        await hub.publish('secret', `s${i}`);
        await hub.publish('public', `p${i}`);
      }
      await boss.waitForFunction(
        () => (window as unknown as { received: string[] }).received.length >= 6,
        undefined,
        { timeout: 15_000 },
      );
      await eve.waitForFunction(
        () => (window as unknown as { received: string[] }).received.length >= 3,
        undefined,
        { timeout: 15_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const eveGot = await eve.evaluate(() => (window as unknown as { received: string[] }).received);
      const eveErrors = await eve.evaluate(() => (window as unknown as { errors: string[] }).errors);
      const bossGot = await boss.evaluate(() => (window as unknown as { received: string[] }).received);
      assert.deepEqual(eveGot, ['public:p1', 'public:p2', 'public:p3']);
      assert.deepEqual(eveErrors, ['secret:FORBIDDEN']);
      assert.deepEqual([...bossGot].sort(), [
        'public:p1',
        'public:p2',
        'public:p3',
        'secret:s1',
        'secret:s2',
        'secret:s3',
      ]);
      await eve.close();
      await boss.close();
    });
  }
});
