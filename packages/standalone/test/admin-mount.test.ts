// The dashboard mounted in an app's own node:http server (`@tidings/standalone/admin`): the same login
// and doors as the standalone's, a live view of the app's connections and channels, and the publish form.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TransportName } from '@tidings/protocol';
import { createHub, createTidingsServer, MemoryEngine } from '@tidings/server';
import { createAdmin } from '@tidings/standalone/admin';
import { ADMIN_PASSWORD, buildAdminOnce, login } from './admin-support.js';
import { openSse, openWs, uid } from './support.js';

before(() => buildAdminOnce());

/** An app: its own routes, Tidings attached, the dashboard at /admin. */
async function startApp() {
  const admin = createAdmin({ password: ADMIN_PASSWORD });
  const hub = createHub({ engine: admin.meter(new MemoryEngine()) });
  const tidings = createTidingsServer({ hub, observer: admin.observer, publish: true });
  const handleAdmin = admin.handler(tidings);
  const server = createServer((req, res) => {
    if (handleAdmin(req, res)) return;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('the app');
  });
  tidings.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  after(async () => {
    admin.close();
    await tidings.close({ deadlineMs: 0, closeHub: true });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url, hub };
}

test('an app mounts the dashboard: login, live view, publish delivered once', async () => {
  const { url } = await startApp();
  assert.equal(await (await fetch(`${url}/elsewhere`)).text(), 'the app', 'other paths stay the app’s');
  const page = await fetch(`${url}/admin`);
  assert.match(await page.text(), /name="secret"/, 'the login form');
  assert.equal((await fetch(`${url}/admin/api/channel?channel=a`)).status, 401, 'no data without a session');

  const channel = `room.${uid()}`;
  const subscriber = await openWs(url);
  subscriber.send({ type: 'subscribe', id: 1, channel });
  await subscriber.next((frame) => frame.type === 'subscribed');

  const { cookie, csrf } = await login(url);
  const live = await openSse(`${url}/admin/events?csrf=${encodeURIComponent(csrf)}`, { cookie });
  assert.equal(live.status, 200);
  const frame = (await live.next(
    (f) =>
      typeof f.t === 'number' &&
      (f as unknown as { channels: { channel: string }[] }).channels.some((row) => row.channel === channel),
  )) as unknown as {
    connections: Record<string, number>;
    channels: { channel: string; subscribers: number }[];
  };
  assert.equal(frame.connections[TransportName.websocket], 1);
  assert.equal(frame.channels.find((row) => row.channel === channel)?.subscribers, 1);
  live.close();

  const publish = (headers: Record<string, string>) =>
    fetch(`${url}/admin/api/publish`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ channel, json: '{"hello":"app"}' }),
    });
  assert.equal((await publish({ origin: url })).status, 403, 'no CSRF token');
  assert.equal((await publish({ origin: 'http://evil.example', 'x-tidings-csrf': csrf })).status, 403);
  const ok = await publish({ origin: url, 'x-tidings-csrf': csrf });
  assert.equal(ok.status, 200);
  const ack = (await ok.json()) as { type: string; offset: number };
  assert.deepEqual([ack.type, ack.offset], ['ack', 1]);
  await subscriber.next((f) => f.type === 'message' && f.channel === channel);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const delivered = subscriber.frames.filter((f) => f.type === 'message' && f.channel === channel);
  assert.equal(delivered.length, 1, 'exactly once');
  assert.deepEqual(delivered[0]!.data, { hello: 'app' });

  // meter() counted the stored message; the engine is named after its class.
  const again = await openSse(`${url}/admin/events?csrf=${encodeURIComponent(csrf)}`, { cookie });
  const counted = (await again.next(
    (f) =>
      typeof f.t === 'number' && (f as unknown as { totals: { published: number } }).totals.published === 1,
  )) as unknown as { engine: { type: string; status: string } };
  assert.deepEqual(counted.engine, { type: 'memory', status: 'ok' });
  again.close();
});

test('a wrong password, or a login posted from another origin, sets no cookie', async () => {
  const { url } = await startApp();
  const post = (secret: string, origin: string) =>
    fetch(`${url}/admin/login`, {
      method: 'POST',
      headers: { origin },
      body: new URLSearchParams({ secret }),
      redirect: 'manual',
    });
  const wrong = await post('not-the-password', url);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('set-cookie'), null);
  const elsewhere = await post(ADMIN_PASSWORD, 'http://evil.example');
  assert.equal(elsewhere.status, 403);
  assert.equal(elsewhere.headers.get('set-cookie'), null);
});

test('a short password is refused up front', () => {
  assert.throws(() => createAdmin({ password: 'short' }), /at least 12 characters/);
  assert.throws(() => createAdmin({ password: [] }), /at least 12 characters/);
});
