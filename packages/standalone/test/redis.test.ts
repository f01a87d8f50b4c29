import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  API_KEY,
  api,
  deleteRedisKeys,
  openSse,
  openWs,
  REDIS_URL,
  redisReachable,
  serve,
  tempConfig,
  uid,
} from './support.js';

const reachable = await redisReachable();
const why = `Redis is not reachable at ${REDIS_URL}`;
if (!reachable && process.env.CI !== 'true') console.log(`${why}: skipping the standalone Redis tests`);

describe('two standalone servers on one Redis', {
  skip: !reachable && process.env.CI !== 'true' && why,
}, () => {
  test('Redis is reachable', () => assert.ok(reachable, why));

  test('publish through the API of one, receive on the other; /api/disconnect reaches both', async () => {
    const prefix = `tidings-test:standalone:${process.pid}:${uid()}:`;
    after(() => deleteRedisKeys(prefix));
    const file = await tempConfig({
      port: 0,
      host: '127.0.0.1',
      apiKey: API_KEY,
      engine: { type: 'redis', url: REDIS_URL, prefix },
      history: { 'orders.*': { size: 10 } },
    });
    const [a, b] = await Promise.all([serve(['--config', file]), serve(['--config', file])]);
    for (const server of [a, b]) {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
    }

    const onB = await openSse(`${b.url}/tidings/sse?channel=orders.7`);
    await onB.next((frame) => frame.type === 'subscribed');
    const published = await api(a.url, 'POST', '/publish', {
      channel: 'orders.7',
      data: { status: 'shipped' },
    });
    assert.equal(published.status, 200);
    const message = await onB.next((frame) => frame.type === 'message');
    assert.deepEqual(message.data, { status: 'shipped' });
    assert.equal(message.epoch, published.body.epoch);
    assert.equal(message.offset, published.body.offset);

    // Both processes see the same channels and history.
    const history = await api(b.url, 'GET', '/history?channel=orders.7');
    assert.deepEqual(
      (history.body.messages as { data: unknown }[]).map((m) => m.data),
      [{ status: 'shipped' }],
    );
    const channels = await api(b.url, 'GET', '/channels?pattern=orders.*');
    assert.deepEqual(channels.body, { channels: [{ channel: 'orders.7', subscribers: 1 }] });

    // A disconnect asked of A reaches the connection held by B.
    const ws = await openWs(b.url);
    const answer = await api(a.url, 'POST', '/disconnect', { user: 'anonymous', reason: 'maintenance' });
    assert.deepEqual(answer.body, { user: 'anonymous', disconnected: 0 });
    const frame = await ws.next((f) => f.type === 'disconnect');
    assert.deepEqual(frame, {
      type: 'disconnect',
      code: 'FORBIDDEN',
      reason: 'maintenance',
      reconnect: false,
    });
    await onB.next((f) => f.type === 'disconnect');

    assert.equal((await a.stop()).code, 0);
    assert.equal((await b.stop()).code, 0);
  });
});
