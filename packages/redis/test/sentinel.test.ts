import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTidingsError } from '@tidings/protocol';
import type { RetentionPolicy } from '@tidings/server';
import { engineContract, waitFor } from '@tidings/testing';
import { RedisEngine } from '../src/index.js';
import { type LocalSentinel, startSentinel } from './local-sentinel.js';
import { uid } from './support.js';

// The engine through a local sentinel watching a master and its replica, started here.

const POLICY: RetentionPolicy = { size: 10_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function withSentinel(body: (setup: LocalSentinel) => void): Promise<void> {
  if (!hasRedisServer()) {
    const why = 'redis-server is not on the PATH';
    if (process.env.CI === 'true')
      test('redis-server is installed (required with CI=true)', () => assert.fail(why));
    else test('Redis Sentinel tests', { skip: `${why} (set CI=true to fail instead)` }, () => undefined);
    return;
  }
  const setup = await startSentinel();
  after(() => setup.stop());
  body(setup);
}

await withSentinel((setup) => {
  const runPrefix = `tidings-test:${uid()}:`;
  const engine = (prefix = `${runPrefix}contract:`) =>
    new RedisEngine({ prefix, redis: { sentinels: [setup.sentinel], name: setup.name } });

  engineContract('redis sentinel', {
    create: async () => engine(),
    createPeer: async () => engine(),
    asyncDelivery: true,
    numRuns: 10,
  });

  describe('redis sentinel engine', () => {
    test('a failover: the engine follows the new master, and the channel starts a new epoch', async (t) => {
      const e = engine(`${runPrefix}${uid()}:`);
      t.after(() => e.close());
      await e.ready();
      const first = await e.publish({ channel: 'f', data: '1', policy: POLICY });
      const killedAt = Date.now();
      setup.kill(setup.master);
      let after: Awaited<ReturnType<RedisEngine['publish']>> | undefined;
      await waitFor(
        async () => {
          after = await e.publish({ channel: 'f', data: '2', policy: POLICY }).catch((error) => {
            assert.ok(isTidingsError(error));
            return undefined;
          });
          if (after === undefined) await sleep(50);
          return after;
        },
        30_000,
        'a publish through the promoted replica',
      );
      console.log(`# sentinel failover: writes again after ${Date.now() - killedAt} ms`);
      assert.ok(after);
      assert.notEqual(after.epoch, first.epoch);
      assert.equal(after.offset, 1);
    });
  });
});
