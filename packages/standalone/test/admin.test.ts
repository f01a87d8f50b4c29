// The dashboard's doors over plain HTTP: closed without a secret, nothing without a session, and no
// action without this origin and the session's CSRF token. admin-browser.test.ts drives it in Chromium.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TransportName } from '@tidings/protocol';
import { ADMIN_PASSWORD, buildAdminOnce, login } from './admin-support.js';
import { API_KEY, REDIS_URL, startInProcess, uid } from './support.js';

before(() => buildAdminOnce());

const form = (secret: string) => new URLSearchParams({ secret });

describe('the dashboard at /admin', () => {
  test('is off (404) when neither adminPassword nor apiKey is set', async () => {
    const { url } = await startInProcess({ apiKey: undefined });
    for (const path of ['/admin', '/admin/events', '/admin/assets/admin.js']) {
      assert.equal((await fetch(`${url}${path}`)).status, 404, path);
    }
  });

  test('shows only the login form without a session; data and actions answer 401', async () => {
    const { url } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const page = await fetch(`${url}/admin`);
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.match(text, /name="secret"/);
    assert.doesNotMatch(text, /data-csrf/);
    assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
    assert.equal((await fetch(`${url}/admin/events`)).status, 401);
    assert.equal((await fetch(`${url}/admin/api/channel?channel=a`)).status, 401);
    const publish = await fetch(`${url}/admin/api/publish`, {
      method: 'POST',
      headers: { origin: url, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'a', json: '1' }),
    });
    assert.equal(publish.status, 401);
  });

  test('a wrong password, and a login posted from another origin, set no cookie', async () => {
    const { url } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const post = (body: URLSearchParams, headers: Record<string, string>) =>
      fetch(`${url}/admin/login`, { method: 'POST', headers, body, redirect: 'manual' });
    const wrong = await post(form('not-the-password'), { origin: url });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    const elsewhere = await post(form(ADMIN_PASSWORD), { origin: 'http://evil.example' });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.headers.get('set-cookie'), null);
    const noOrigin = await post(form(ADMIN_PASSWORD), {});
    assert.equal(noOrigin.status, 403);
  });

  test('after 10 wrong passwords a minute, even the right one is refused (429)', async () => {
    const { url } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const post = (secret: string) =>
      fetch(`${url}/admin/login`, {
        method: 'POST',
        headers: { origin: url },
        body: form(secret),
        redirect: 'manual',
      });
    for (let i = 0; i < 10; i++) assert.equal((await post(`wrong-${i}`)).status, 401);
    assert.equal((await post(ADMIN_PASSWORD)).status, 429);
  });

  test('the password or the API key logs in: an HttpOnly, SameSite=Strict session cookie', async () => {
    const { url } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    for (const secret of [ADMIN_PASSWORD, API_KEY]) {
      const response = await fetch(`${url}/admin/login`, {
        method: 'POST',
        headers: { origin: url },
        body: form(secret),
        redirect: 'manual',
      });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/admin');
      const cookie = response.headers.get('set-cookie')!;
      assert.match(cookie, /^tidings_admin=[\w-]{40,}; Path=\/admin; HttpOnly; SameSite=Strict$/);
    }
  });

  test('actions need this origin and the CSRF token; logout ends the session', async () => {
    const { url } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const { cookie, csrf } = await login(url);
    const channel = `news.${uid()}`;
    const publish = (headers: Record<string, string>) =>
      fetch(`${url}/admin/api/publish`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ channel, json: '{"n":1}' }),
      });
    assert.equal((await publish({ origin: url })).status, 403, 'no token');
    assert.equal((await publish({ origin: url, 'x-tidings-csrf': 'guess' })).status, 403, 'wrong token');
    assert.equal((await publish({ 'x-tidings-csrf': csrf })).status, 403, 'no origin');
    assert.equal(
      (await publish({ origin: 'http://127.0.0.1:1', 'x-tidings-csrf': csrf })).status,
      403,
      'another origin',
    );
    const crossSite = await publish({ origin: url, 'x-tidings-csrf': csrf, 'sec-fetch-site': 'same-site' });
    assert.equal(crossSite.status, 403, 'another site');
    const ok = await publish({ origin: url, 'x-tidings-csrf': csrf });
    assert.equal(ok.status, 200);
    const ack = (await ok.json()) as Record<string, unknown>;
    assert.deepEqual([ack.type, ack.channel, ack.offset], ['ack', channel, 1]);

    const bad = await publish({ origin: url, 'x-tidings-csrf': csrf }).then(() =>
      fetch(`${url}/admin/api/publish`, {
        method: 'POST',
        headers: { cookie, origin: url, 'x-tidings-csrf': csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: '_tidings.control', json: '{}' }),
      }),
    );
    assert.equal(bad.status, 400, 'reserved channel');

    const detail = await fetch(`${url}/admin/api/channel?channel=${channel}`, {
      headers: { cookie, 'x-tidings-csrf': csrf },
    });
    const body = (await detail.json()) as { offset: number; messages: { offset: number; data: string }[] };
    assert.equal(body.offset, 2);
    assert.deepEqual(
      body.messages.map((m) => [m.offset, m.data]),
      [
        [2, '{"n":1}'],
        [1, '{"n":1}'],
      ],
      'newest first',
    );

    const logout = await fetch(`${url}/admin/logout`, {
      method: 'POST',
      headers: { cookie, origin: url, 'x-tidings-csrf': csrf },
    });
    assert.equal(logout.status, 200);
    assert.equal((await publish({ origin: url, 'x-tidings-csrf': csrf })).status, 401, 'after logout');
  });

  test('history pages back from the newest message', async () => {
    const { url, hub } = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const channel = `log.${uid()}`;
    for (let i = 1; i <= 45; i++) await hub.publish(channel, { i });
    const { cookie, csrf } = await login(url);
    const page = async (before?: number) => {
      const query = new URLSearchParams({ channel, ...(before !== undefined && { before: String(before) }) });
      const response = await fetch(`${url}/admin/api/channel?${query}`, {
        headers: { cookie, 'x-tidings-csrf': csrf },
      });
      return (await response.json()) as { messages: { offset: number }[]; next?: number };
    };
    const first = await page();
    assert.deepEqual(
      first.messages.map((m) => m.offset),
      Array.from({ length: 20 }, (_, i) => 45 - i),
    );
    const second = await page(first.next);
    assert.equal(second.messages[0]!.offset, 25);
    const third = await page(second.next);
    assert.deepEqual(
      third.messages.map((m) => m.offset),
      [5, 4, 3, 2, 1],
    );
    assert.equal(third.next, undefined);
  });

  test('the live view pushes a frame a second over SSE, only with the session and its token', async () => {
    const server = await startInProcess({ adminPassword: ADMIN_PASSWORD });
    const { url } = server;
    const { cookie, csrf } = await login(url);
    assert.equal((await fetch(`${url}/admin/events`, { headers: { cookie } })).status, 403, 'no token');
    const controller = new AbortController();
    const response = await fetch(`${url}/admin/events?csrf=${encodeURIComponent(csrf)}`, {
      headers: { cookie },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5_000;
    while (!/\ndata: \{"t"/.test(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    controller.abort();
    assert.match(text, /^retry: 2000\nevent: series\ndata: \[/);
    const frame = JSON.parse(/\ndata: (\{"t".*)\n/.exec(text)![1]!);
    assert.deepEqual(Object.keys(frame.connections).sort(), Object.values(TransportName).sort());
    assert.equal(frame.engine.type, 'sqlite');
    assert.equal(frame.processes.length, 0);
    await server.close();
  });
});

describe('the dashboard on a shared engine', () => {
  test('lists every process on the Redis engine, each with its own connections', async () => {
    const prefix = `admin-${uid()}:`;
    const engine = { type: 'redis' as const, url: REDIS_URL, prefix };
    const a = await startInProcess({ adminPassword: ADMIN_PASSWORD, engine });
    const b = await startInProcess({ adminPassword: ADMIN_PASSWORD, engine });
    // One SSE connection to B, so the two processes report different counts.
    const controller = new AbortController();
    after(() => controller.abort());
    const held = await fetch(`${b.url}/tidings/sse?channel=x`, { signal: controller.signal });
    assert.equal(held.status, 200);
    const { cookie, csrf } = await login(a.url);
    const response = await fetch(`${a.url}/admin/events?csrf=${encodeURIComponent(csrf)}`, {
      headers: { cookie },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { value, done } = await reader.read();
      assert.ok(!done && Date.now() < deadline, 'no frame with both processes');
      text += Buffer.from(value).toString();
      const frames = [...text.matchAll(/\ndata: (\{"t".*)\n/g)].map((m) => JSON.parse(m[1]!));
      const last = frames[frames.length - 1];
      if (last?.processes.length === 2) {
        const sse = last.processes.map((p: { connections: { sse: number } }) => p.connections.sse);
        assert.deepEqual(sse, [0, 1], 'this process first, then the other');
        assert.equal(last.processes[0].id, last.process.id);
        break;
      }
    }
    controller.abort();
  });
});
