// The dashboard in Chromium, as an operator uses it: log in, watch test clients connect, subscribe and
// publish, drill into a channel and publish from the form; a wrong password and another site's form
// are refused. Leaves test-artifacts/admin.png (docs/admin.png is a copy of one).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Client, connect, type Message } from '@tidings/client';
import { chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, buildAdminOnce } from './admin-support.js';
import { api, startInProcess, uid } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: apt-get install -y chromium`;
if (missing && process.env.CI === 'true') throw new Error(missing);
const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url).pathname;

before(() => buildAdminOnce());

async function launch() {
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
  return browser;
}

function client(url: string): Client {
  const c = connect(url, {
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    backoff: () => 50,
  });
  after(() => c.close());
  return c;
}

/** The number shown on a card, e.g. `#card-connections`. */
async function cardValue(tab: Page, id: string): Promise<string> {
  return (await tab.textContent(`#card-${id} .value`)) ?? '';
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the dashboard in a browser', { skip: missing }, () => {
  test('an operator logs in, watches the numbers move, drills down and publishes', async () => {
    const { url } = await startInProcess({
      adminPassword: ADMIN_PASSWORD,
      publish: true,
      presence: ['room.*'],
    });
    const browser = await launch();
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    tab.on('pageerror', (error) => pageErrors.push(error.message));

    // A wrong password: the form again, with the error, and no session.
    await tab.goto(`${url}/admin`);
    await tab.fill('#secret', 'not-the-password');
    const refused = tab.waitForResponse((r) => r.url().endsWith('/admin/login'));
    await tab.click('button[type=submit]');
    assert.equal((await refused).status(), 401);
    await tab.waitForSelector('.error');
    assert.equal(await tab.locator('#app').count(), 0);
    assert.deepEqual(await tab.context().cookies(), []);

    await tab.fill('#secret', ADMIN_PASSWORD);
    await tab.click('button[type=submit]');
    await tab.waitForSelector('#card-connections');
    const [session] = await tab.context().cookies();
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.sameSite, 'Strict');
    await until('0 connections', async () => (await cardValue(tab, 'connections')) === '0');
    await until('the live badge', async () => (await tab.textContent('#status')) === 'live');

    // Clients connect and subscribe: the count and the channel list follow.
    const room = `room.${uid()}`;
    const received: Message[] = [];
    const alice = client(url);
    const sub = alice.subscribe(room, (message) => received.push(message));
    const bob = client(url);
    bob.subscribe(room, () => undefined);
    await until('2 connections', async () => (await cardValue(tab, 'connections')) === '2');
    const pointsBefore = await tab.getAttribute('#chart .messages', 'points');
    for (let i = 0; i < 30; i++) await bob.publish(room, { n: i });
    await until(
      'the channel row',
      async () => (await tab.locator(`a[data-channel="${room}"]`).count()) === 1,
    );
    const row = tab.locator('#channels tr', { has: tab.locator(`a[data-channel="${room}"]`) });
    await until('2 subscribers and offset 30', async () => {
      const cells = await row.locator('td').allTextContents();
      return cells[1] === '2' && cells[4] === '30';
    });
    // The chart moved: the messages line has left the baseline.
    await until('the chart to move', async () => {
      const points = (await tab.getAttribute('#chart .messages', 'points')) ?? '';
      return points !== pointsBefore && points.split(' ').some((p) => Number(p.split(',')[1]) < 150);
    });
    await until('alice has the 30 messages', async () => received.length === 30);

    // Drill down: history newest first, presence, then publish from the form.
    await tab.click(`a[data-channel="${room}"]`);
    await tab.waitForSelector('#history li');
    assert.match((await tab.locator('#history li').first().textContent()) ?? '', /^#30 .*\{"n":29\}/);
    await until('2 presence members', async () => (await tab.locator('#presence li').count()) === 2);
    await tab.fill('#publish-data', '{"from": "the dashboard"}');
    await tab.click('#publish-form button[type=submit]');
    await until('the ack', async () =>
      /^ack: offset 31/.test((await tab.textContent('#publish-result')) ?? ''),
    );
    await until('alice has it', async () => received.length === 31);
    // Exactly once: nothing more arrives in the next second.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.deepEqual(received.filter((m) => JSON.stringify(m.data) === '{"from":"the dashboard"}').length, 1);
    assert.equal(received.length, 31);
    assert.equal(sub.state, 'subscribed');

    // Invalid JSON is told, not published.
    await tab.fill('#publish-data', '{oops');
    await tab.click('#publish-form button[type=submit]');
    await until('the JSON error', async () =>
      /^Not JSON/.test((await tab.textContent('#publish-result')) ?? ''),
    );

    await mkdir(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: `${ARTIFACTS}admin.png`, fullPage: true });

    // Disconnect: both anonymous clients are told FORBIDDEN and the count falls to 0.
    await tab.fill('#disconnect-user', 'anonymous');
    await tab.click('#disconnect-form button[type=submit]');
    await until('the disconnect answer', async () =>
      /2 connection\(s\) here/.test((await tab.textContent('#disconnect-result')) ?? ''),
    );
    await until('0 connections', async () => (await cardValue(tab, 'connections')) === '0');
    assert.deepEqual(pageErrors, []);
  });

  test("a form on another origin cannot publish or log in with the operator's cookie", async () => {
    const { url, hub } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const channel = `news.${uid()}`;
    const seen: unknown[] = [];
    const subscription = hub.subscribe(channel, (message) => {
      seen.push(message.data);
    });
    await subscription.ready;
    // Another origin (same host, another port: the same *site*, so SameSite alone would not stop it).
    const evil = createServer((request, response) => {
      const target = request.url === '/login' ? '/admin/login' : '/admin/api/publish';
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html>
<form id="f" method="post" action="${url}${target}" enctype="text/plain">
<input name='{"channel":"${channel}","json":"1","x":"' value='"}'>
<input name="secret" value="${ADMIN_PASSWORD}">
</form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => evil.close(() => resolve())));
    const evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;

    const browser = await launch();
    const tab = await browser.newPage();
    await tab.goto(`${url}/admin`);
    await tab.fill('#secret', ADMIN_PASSWORD);
    await tab.click('button[type=submit]');
    await tab.waitForSelector('#card-connections');

    const publish = tab.waitForResponse((r) => r.url().endsWith('/admin/api/publish'));
    await tab.goto(`${evilOrigin}/publish`);
    assert.equal((await publish).status(), 403);
    const login = tab.waitForResponse((r) => r.url().endsWith('/admin/login'));
    await tab.goto(`${evilOrigin}/login`);
    assert.equal((await login).status(), 403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(seen, []);
    assert.equal((await api(url, 'GET', `/history?channel=${channel}`)).body.offset, 0);
  });
});
