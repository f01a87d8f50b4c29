import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { createHub, type Hub } from '@tidings/server';
import { eventually } from '@tidings/testing';
import { RedisEngine } from '../src/index.js';
import { killClient, uid, withRedis } from './support.js';

await withRedis((admin, runPrefix) => {
  describe('hub over Redis', () => {
    /** A hub on its own engine; hubs given the same prefix share their channels, like server processes. */
    function hub(t: TestContext, prefix: string, connectionName?: string): Hub {
      const engine = new RedisEngine({ prefix, redis: connectionName ? { connectionName } : {} });
      const errors: unknown[] = [];
      const h = createHub({ engine, onError: (error) => errors.push(error) });
      t.after(() => h.close());
      return h;
    }

    test('a subscriber on one process receives, in order, what another publishes', async (t) => {
      const prefix = `${runPrefix}${uid()}:`;
      const a = hub(t, prefix);
      const b = hub(t, prefix);
      const got: unknown[] = [];
      const pattern: string[] = [];
      await a.subscribe('room.1', (m) => {
        got.push(m.data);
      }).ready;
      await a.subscribe('room.*', (m) => {
        pattern.push(`${m.channel}:${m.offset}`);
      }).ready;
      await Promise.all([1, 2, 3, 4, 5].map((i) => b.publish('room.1', { i })));
      await b.publish('room.2', 'x');
      await b.publish('other.1', 'y');
      await eventually(() => {
        assert.deepEqual(
          got.map((d) => (d as { i: number }).i),
          [1, 2, 3, 4, 5],
        );
        assert.deepEqual(pattern, ['room.1:1', 'room.1:2', 'room.1:3', 'room.1:4', 'room.1:5', 'room.2:1']);
      });
    });

    test('messages published while the subscriber connection is down are caught up after it returns', async (t) => {
      const prefix = `${runPrefix}${uid()}:`;
      const name = `tidings-test-${uid()}`;
      const a = hub(t, prefix, name);
      const b = hub(t, prefix);
      const got: number[] = [];
      await a.subscribe('feed', (m) => {
        got.push(m.data as number);
      }).ready;
      await b.publish('feed', 1);
      await eventually(() => assert.deepEqual(got, [1]));

      await killClient(admin, `${name}:sub`);
      // Right after the kill, before the subscriber is back: pub/sub drops these for `a`.
      for (let i = 2; i <= 4; i++) await b.publish('feed', i);
      await eventually(() => assert.deepEqual(got, [1, 2, 3, 4]));
      await b.publish('feed', 5);
      await eventually(() => assert.deepEqual(got, [1, 2, 3, 4, 5]));
    });
  });
});
