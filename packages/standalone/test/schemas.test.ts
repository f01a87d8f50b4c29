// Schemas given to startStandalone hold for the HTTP API as for clients: INVALID_DATA, nothing stored.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { validateConfig } from '../src/config/load.js';
import { startStandalone } from '../src/standalone.js';
import { api, openSse, startInProcess } from './support.js';

const schemas = { 'orders.*': z.object({ status: z.enum(['paid', 'shipped']) }) };

describe('standalone: schemas', () => {
  test('API publish, broadcast and state: 422 INVALID_DATA with the issues; subscribers get only valid data, once', async () => {
    const { url, hub } = await startInProcess({}, undefined, { schemas });
    const sse = await openSse(`${url}/tidings/sse?channel=orders.1`);
    await sse.next((frame) => frame.type === 'subscribed');
    assert.equal(
      (await api(url, 'POST', '/publish', { channel: 'orders.1', data: { status: 'paid' } })).status,
      200,
    );

    const refused = await api(url, 'POST', '/publish', { channel: 'orders.1', data: { status: 'lost' } });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'INVALID_DATA');
    assert.match(refused.body.message as string, /^data for orders\.1 does not match its schema: status: /);
    const [issue] = (refused.body.details as { issues: { path: unknown }[] }).issues;
    assert.deepEqual(issue.path, ['status']);
    const broadcast = await api(url, 'POST', '/broadcast', { channels: ['orders.1', 'orders.2'], data: 'x' });
    assert.equal(broadcast.status, 422);
    assert.equal(broadcast.body.code, 'INVALID_DATA');
    const state = await api(url, 'POST', '/state', { channel: 'orders.1', data: {} });
    assert.equal(state.status, 422);
    assert.equal((await hub.position('orders.1')).offset, 1);
    assert.equal((await hub.position('orders.2')).offset, 0);

    assert.equal(
      (await api(url, 'POST', '/publish', { channel: 'orders.1', data: { status: 'shipped' } })).status,
      200,
    );
    await sse.next((frame) => frame.type === 'message' && frame.offset === 2);
    await sleep(20);
    assert.deepEqual(
      sse.frames.filter((frame) => frame.type === 'message').map((frame) => frame.data),
      [{ status: 'paid' }, { status: 'shipped' }],
    );
    sse.close();
  });

  test('a schema key that would cover the server’s own channels is refused at start', async () => {
    const config = validateConfig({ host: '127.0.0.1', port: 0 });
    await assert.rejects(startStandalone(config, { schemas: { '>': schemas['orders.*'] } }), {
      code: 'INVALID_FIELD',
      message: /would also apply to the server's own _tidings\.\* channels/,
    });
  });
});
