import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { ErrorCode } from '@tidings/protocol';
import { DEFAULT_LIMITS, type TidingsServerOptions } from '@tidings/server';
import { listen } from '@tidings/testing';
import { addressKey, clientAddress } from '../src/http/client-address.js';
import { RateLimiters } from '../src/limits.js';
import { getJson, publishHttp, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

/** Tokens name identities; no token is anonymous. Clients may publish everywhere. */
async function server(t: T, options: TidingsServerOptions = {}) {
  const srv = await listen({
    publish: true,
    authenticate: ({ token }) => (token ? { id: token } : { id: 'anonymous', anonymous: true }),
    ...options,
  });
  t.after(srv.close);
  return srv;
}

async function ws(t: T, url: string, headers?: Record<string, string>): Promise<WsClient> {
  const client = await WsClient.open(url, { headers });
  t.after(() => client.close());
  return client;
}

let ids = 1;
function publish(client: WsClient, channel: string, data: unknown, key?: string) {
  return client.request({ type: 'publish', id: ids++, channel, data, key });
}

const position = (frame: Record<string, unknown>) => [frame.type, frame.offset, frame.duplicate ?? false];

describe('idempotency keys are scoped to the publisher', () => {
  test('a browser that uses a key first does not take it from the server (the front-running attack)', async (t) => {
    const srv = await server(t);
    const browser = await ws(t, `${srv.wsUrl}/ws`);
    const forged = await publish(browser, 'orders', { forged: true }, 'order-42-shipped');
    assert.deepEqual(position(forged), ['ack', 1, false]);
    // The server's own publish with the documented key is stored and acknowledged at its own position.
    const real = await srv.hub.publish('orders', { shipped: 42 }, { id: 'order-42-shipped' });
    assert.deepEqual([real.offset, real.duplicate], [2, false]);
    const retried = await srv.hub.publish('orders', { shipped: 42 }, { id: 'order-42-shipped' });
    assert.deepEqual([retried.offset, retried.duplicate], [2, true]);
    const history = await srv.hub.history('orders');
    assert.deepEqual(
      history.messages.map((m) => m.data),
      [{ forged: true }, { shipped: 42 }],
    );
    // Nor does the server's key block the browser's own retry.
    const again = await publish(browser, 'orders', { forged: true }, 'order-42-shipped');
    assert.deepEqual(position(again), ['ack', 1, true]);
  });

  test("one identity's retry is a duplicate across connections and transports; another identity's key is its own", async (t) => {
    const srv = await server(t);
    const first = await ws(t, `${srv.wsUrl}/ws?token=alice`);
    assert.deepEqual(position(await publish(first, 'c', 1, 'k')), ['ack', 1, false]);
    first.close();
    const reconnected = await ws(t, `${srv.wsUrl}/ws?token=alice`);
    assert.deepEqual(position(await publish(reconnected, 'c', 1, 'k')), ['ack', 1, true]);
    const http = await publishHttp(
      srv.url,
      { channel: 'c', data: 1 },
      { authorization: 'Bearer alice', 'idempotency-key': 'k' },
    );
    assert.deepEqual(position(http.body), ['ack', 1, true]);
    const bob = await ws(t, `${srv.wsUrl}/ws?token=bob`);
    assert.deepEqual(position(await publish(bob, 'c', 2, 'k')), ['ack', 2, false]);
    const bobHttp = await publishHttp(
      srv.url,
      { channel: 'c', data: 2, key: 'k' },
      { authorization: 'Bearer bob' },
    );
    assert.deepEqual(position(bobHttp.body), ['ack', 2, true]);
  });

  test('hub.publish takes a publisher scope of its own choosing; an empty one is refused', async (t) => {
    const srv = await server(t);
    const a = await srv.hub.publish('s', 1, { id: 'k', publisher: 'billing' });
    const b = await srv.hub.publish('s', 2, { id: 'k', publisher: 'shipping' });
    const again = await srv.hub.publish('s', 1, { id: 'k', publisher: 'billing' });
    assert.deepEqual([a.offset, b.offset, again.offset, again.duplicate], [1, 2, 1, true]);
    await assert.rejects(srv.hub.publish('s', 1, { id: 'k', publisher: '' }), {
      code: ErrorCode.invalidField,
    });
  });

  test('anonymous clients are scoped by address (through a trusted proxy)', async (t) => {
    const srv = await server(t, { trustProxy: 1 });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const a = await ws(t, `${srv.wsUrl}/ws`, from('10.0.0.1'));
    const b = await ws(t, `${srv.wsUrl}/ws`, from('10.0.0.2'));
    assert.deepEqual(position(await publish(a, 'c', 'a', 'k')), ['ack', 1, false]);
    assert.deepEqual(position(await publish(b, 'c', 'b', 'k')), ['ack', 2, false]);
    const aAgain = await ws(t, `${srv.wsUrl}/ws`, from('10.0.0.1'));
    assert.deepEqual(position(await publish(aAgain, 'c', 'a', 'k')), ['ack', 1, true]);
    const aHttp = await publishHttp(srv.url, { channel: 'c', data: 'a', key: 'k' }, from('10.0.0.1'));
    assert.deepEqual(position(aHttp.body), ['ack', 1, true]);
  });
});

describe('limits per identity', () => {
  const RATE = { perSecond: 10, burst: 20 };

  test('20 WebSockets of one identity share one publish bucket: about rate × time + burst acknowledged', async (t) => {
    const srv = await server(t, { limits: { publishRate: RATE } });
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => ws(t, `${srv.wsUrl}/ws?token=mallory`)),
    );
    const other = await ws(t, `${srv.wsUrl}/ws?token=honest`);
    const started = Date.now();
    let acks = 0;
    let limited = 0;
    // Three rounds of 20 publishes per connection, 400 ms apart.
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(
        clients.flatMap((client) => Array.from({ length: 20 }, () => publish(client, 'flood', round))),
      );
      for (const reply of replies) {
        if (reply.type === 'ack') acks++;
        else if (reply.code === ErrorCode.rateLimited) limited++;
      }
      if (round < 2) await new Promise((resolve) => setTimeout(resolve, 400));
    }
    const seconds = (Date.now() - started) / 1000;
    const allowed = RATE.burst + RATE.perSecond * seconds;
    assert.ok(acks <= Math.ceil(allowed), `${acks} acks in ${seconds} s, at most ${allowed}`);
    assert.ok(acks >= RATE.burst, `${acks} acks: at least the burst`);
    assert.equal(acks + limited, 20 * 20 * 3);
    // Another identity has a bucket of its own.
    assert.equal((await publish(other, 'flood', 'honest')).type, 'ack');
    // HTTP publishes of the identity draw on the same, nearly empty, bucket (it refills at 10/s).
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        publishHttp(srv.url, { channel: 'flood', data: 1 }, { authorization: 'Bearer mallory' }),
      ),
    );
    const refused = answers.filter((a) => a.body.code === ErrorCode.rateLimited).length;
    assert.ok(refused >= 15, `${refused} of 20 HTTP publishes refused`);
  });

  test('anonymous clients are limited per address; X-Forwarded-For counts only behind a trusted proxy', async (t) => {
    const limits = { publishRate: { perSecond: 0.001, burst: 1 }, maxConnectionsPerIdentity: 2 };
    const direct = await server(t, { limits });
    // Without trustProxy the header is ignored: both are 127.0.0.1, one bucket, one connection count.
    const a = await ws(t, `${direct.wsUrl}/ws`, { 'x-forwarded-for': '10.0.0.1' });
    const b = await ws(t, `${direct.wsUrl}/ws`, { 'x-forwarded-for': '10.0.0.2' });
    assert.equal((await publish(a, 'c', 1)).type, 'ack');
    assert.equal((await publish(b, 'c', 1)).code, ErrorCode.rateLimited);
    const third = new WsClient(`${direct.wsUrl}/ws`, { headers: { 'x-forwarded-for': '10.0.0.3' } });
    assert.equal((await third.closed).code, 4429);

    const proxied = await server(t, { limits, trustProxy: ['127.0.0.1'] });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const c = await ws(t, `${proxied.wsUrl}/ws`, from('10.0.0.1'));
    const d = await ws(t, `${proxied.wsUrl}/ws`, from('10.0.0.2'));
    assert.equal((await publish(c, 'c', 1)).type, 'ack');
    assert.equal((await publish(d, 'c', 1)).type, 'ack');
    await ws(t, `${proxied.wsUrl}/ws`, from('10.0.0.1'));
    const tooMany = new WsClient(`${proxied.wsUrl}/ws`, { headers: from('10.0.0.1') });
    assert.equal((await tooMany.closed).code, 4429);
    const poll = await getJson(`${proxied.url}/poll?channel=c`, { headers: from('10.0.0.1') });
    assert.equal(poll.status, 429);
    assert.equal((await getJson(`${proxied.url}/poll?channel=c`, { headers: from('10.0.0.9') })).status, 200);
  });

  test('connections per identity are finite by default and released on close', async (t) => {
    assert.equal(DEFAULT_LIMITS.maxConnectionsPerIdentity, 100);
    const srv = await server(t, { limits: { maxConnectionsPerIdentity: 3 } });
    const open = await Promise.all([1, 2, 3].map(() => ws(t, `${srv.wsUrl}/ws?token=carol`)));
    const refused = new WsClient(`${srv.wsUrl}/ws?token=carol`);
    assert.equal((await refused.closed).code, 4429);
    await ws(t, `${srv.wsUrl}/ws?token=dave`);
    open[0]?.close();
    await until(() => srv.tidings.stats().connections.websocket === 3, 'carol left once');
    await ws(t, `${srv.wsUrl}/ws?token=carol`);
  });

  test('the per-client buckets stay bounded: full ones are swept, then the oldest go', () => {
    const limiters = new RateLimiters({ perSecond: 1, burst: 2 }, 100);
    let now = 1_000_000;
    for (let i = 0; i < 1_000; i++) limiters.take(`k${i}`, now);
    assert.ok(limiters.size <= 100, `${limiters.size} buckets`);
    // Once refilled, a sweep forgets them all.
    now += 10_000;
    limiters.sweep(now);
    assert.equal(limiters.size, 0);
  });
});

describe('client address', () => {
  const request = (remoteAddress: string, forwarded?: string) =>
    ({
      socket: { remoteAddress },
      headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
    }) as unknown as IncomingMessage;

  test('the socket address unless proxies are trusted; hop counts and addresses', () => {
    assert.equal(clientAddress(request('::ffff:10.1.1.1', '6.6.6.6'), undefined), '10.1.1.1');
    assert.equal(clientAddress(request('10.1.1.1', '6.6.6.6, 1.2.3.4'), 1), '1.2.3.4');
    assert.equal(clientAddress(request('10.1.1.1', '6.6.6.6, 1.2.3.4'), 2), '6.6.6.6');
    // More hops than entries: the farthest address known (a client cannot push the count past it).
    assert.equal(clientAddress(request('10.1.1.1', '1.2.3.4'), 5), '1.2.3.4');
    assert.equal(
      clientAddress(request('10.1.1.1', '6.6.6.6, 1.2.3.4, 10.1.1.2'), ['10.1.1.1', '10.1.1.2']),
      '1.2.3.4',
    );
    // A socket that is not a trusted proxy: its header means nothing.
    assert.equal(clientAddress(request('5.5.5.5', '1.2.3.4'), ['10.1.1.1']), '5.5.5.5');
  });

  test('IPv6 addresses count per /64', () => {
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('10.0.0.1'), '10.0.0.1');
  });
});
