import assert from 'node:assert/strict';
import { after, describe, type TestContext, test } from 'node:test';
import { createHub, type Hub, type Position, type ResetNotice } from '@tidings/server';
import { eventually } from '@tidings/testing';
import type { NatsEngineOptions } from '../src/index.js';
import {
  deleteStreams,
  namespace,
  natsUnavailable,
  purgeChannel,
  Relay,
  testEngine,
} from './nats-helpers.js';

const unavailable = await natsUnavailable();
if (unavailable && process.env.CI === 'true') {
  test('NATS JetStream is reachable (required with CI=true)', () => assert.fail(unavailable));
}
const skip = unavailable ? `${unavailable}; skipped (set CI=true to fail instead)` : false;

const ns = namespace('hub');
after(async () => {
  if (!unavailable) await deleteStreams(ns.stream);
});

/** A hub on its own engine: hubs on the same namespace share channels, like server processes. */
function hub(t: TestContext, options: NatsEngineOptions = {}): Hub {
  const h = createHub({ engine: testEngine({ ...ns, ...options }), onError: () => {} });
  t.after(() => h.close());
  return h;
}

describe('hub over NATS', { skip }, () => {
  test('a subscriber on one process receives, in order, what another publishes', async (t) => {
    const a = hub(t);
    const b = hub(t);
    const base = `room${process.pid}${Date.now()}`;
    const got: number[] = [];
    const pattern: string[] = [];
    await a.subscribe(`${base}.1`, (m) => {
      got.push((m.data as { i: number }).i);
    }).ready;
    await a.subscribe(`${base}.*`, (m) => {
      pattern.push(`${m.channel}:${m.offset}`);
    }).ready;
    await Promise.all([1, 2, 3, 4, 5].map((i) => b.publish(`${base}.1`, { i })));
    await b.publish(`${base}.2`, 'x');
    await b.publish(`other${base}.1`, 'y');
    await eventually(() => {
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
      assert.deepEqual(pattern.sort(), [1, 2, 3, 4, 5].map((i) => `${base}.1:${i}`).concat(`${base}.2:1`));
    });
  });

  test('messages published while the subscriber is cut off are caught up after it reconnects', async (t) => {
    const relay = await new Relay().start();
    const port = relay.port;
    const a = hub(t, { servers: relay.url, reconnectTimeWaitMs: 50 });
    const b = hub(t);
    t.after(() => relay.stop().catch(() => {}));
    const channel = `feed${process.pid}${Date.now()}`;
    const got: number[] = [];
    await a.subscribe(channel, (m) => {
      got.push(m.data as number);
    }).ready;
    await b.publish(channel, 1);
    await eventually(() => assert.deepEqual(got, [1]));

    await relay.stop();
    for (let i = 2; i <= 4; i++) await b.publish(channel, i);
    const back = await new Relay().start(port);
    t.after(() => back.stop());
    await eventually(() => assert.deepEqual(got, [1, 2, 3, 4]), 10_000);
    await b.publish(channel, 5);
    await eventually(() => assert.deepEqual(got, [1, 2, 3, 4, 5]));
  });

  test('resuming from a position whose history was purged is a reset to the new epoch', async (t) => {
    const a = hub(t);
    const b = hub(t);
    const channel = `gone${process.pid}${Date.now()}`;
    let last: Position | undefined;
    for (let i = 1; i <= 3; i++) last = await a.publish(channel, i);
    assert.ok(last);
    await purgeChannel(ns.stream, ns.subjectPrefix, channel);
    await a.publish(channel, 'fresh');

    const resets: ResetNotice[] = [];
    const got: unknown[] = [];
    await b.subscribe(
      channel,
      (m) => {
        got.push(m.data);
      },
      { since: { epoch: last.epoch, offset: last.offset }, onReset: (r) => void resets.push(r) },
    ).ready;
    await eventually(() => assert.deepEqual(got, ['fresh']));
    assert.equal(resets.length, 1);
    assert.notEqual(resets[0]?.epoch, last.epoch);
  });
});
