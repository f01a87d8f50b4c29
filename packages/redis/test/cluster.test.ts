import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isTidingsError } from '@tidings/protocol';
import type { EngineMessage, RetentionPolicy } from '@tidings/server';
import { engineContract, eventually, presenceContract, waitFor } from '@tidings/testing';
import { channelKeys, RedisEngine, type RedisEngineOptions } from '../src/index.js';
import { type LocalCluster, startCluster } from './local-cluster.js';
import { uid } from './support.js';

// The engine on a real Redis Cluster of three masters and three replicas, started here (about 2 s)
// from the `redis-server` and `redis-cli` on the PATH and killed afterwards.

const POLICY: RetentionPolicy = { size: 10_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function withCluster(body: (cluster: LocalCluster) => void): Promise<void> {
  if (!hasRedisServer()) {
    const why = 'redis-server is not on the PATH';
    if (process.env.CI === 'true')
      test('redis-server is installed (required with CI=true)', () => assert.fail(why));
    else test('Redis Cluster tests', { skip: `${why} (set CI=true to fail instead)` }, () => undefined);
    return;
  }
  const started = Date.now();
  const cluster = await startCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1_000 });
  console.log(`# local cluster of 6 nodes up in ${Date.now() - started} ms`);
  after(() => cluster.stop());
  body(cluster);
}

await withCluster((cluster) => {
  const nodes = cluster.nodes.map(({ host, port }) => ({ host, port }));
  const runPrefix = `tidings-test:${uid()}:`;
  const clusterEngine = (options: RedisEngineOptions = {}) =>
    new RedisEngine({ cluster: { nodes }, prefix: `${runPrefix}contract:`, ...options });

  engineContract('redis cluster', {
    create: async () => clusterEngine(),
    createPeer: async () => clusterEngine(),
    asyncDelivery: true,
    unorderedAcrossChannels: true,
    numRuns: 10,
  });

  presenceContract('redis cluster', {
    create: async () => clusterEngine(),
    createPeer: async () => clusterEngine(),
    asyncDelivery: true,
    unorderedAcrossChannels: true,
  });

  async function open(t: TestContext, prefix: string): Promise<RedisEngine> {
    const engine = clusterEngine({ prefix });
    t.after(() => engine.close());
    await engine.ready();
    return engine;
  }

  /** Channel names of `stem` whose keys are served by `count` different masters. */
  async function spread(stem: string, count: number): Promise<string[]> {
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < count && i < 200; i++) {
      const channel = `${stem}.c${i}`;
      const master = await cluster.masterOf(channelKeys('', channel).meta);
      if (!byMaster.has(master)) byMaster.set(master, channel);
    }
    assert.equal(byMaster.size, count, 'channels on distinct masters');
    return [...byMaster.values()];
  }

  describe('redis cluster engine', () => {
    test('two engines: every message of channels on every master reaches each subscriber once, in order', async (t) => {
      const prefix = `${runPrefix}${uid()}:`;
      const [a, b] = [await open(t, prefix), await open(t, prefix)];
      const channels = await spread('multi', 3);
      const got = new Map<string, EngineMessage[]>();
      for (const [name, engine] of [
        ['a', a],
        ['b', b],
      ] as const) {
        got.set(`${name}:pattern`, []);
        await engine.subscribe('multi.*', { message: (m) => got.get(`${name}:pattern`)?.push(m) });
        for (const channel of channels) {
          got.set(`${name}:${channel}`, []);
          await engine.subscribe(channel, { message: (m) => got.get(`${name}:${channel}`)?.push(m) });
        }
      }
      const perChannel = 100;
      await Promise.all(
        channels.flatMap((channel) =>
          Array.from({ length: perChannel }, (_, i) =>
            (i % 2 ? a : b).publish({ channel, data: JSON.stringify(i), policy: POLICY }),
          ),
        ),
      );
      const expected = Array.from({ length: perChannel }, (_, i) => i + 1);
      await eventually(() => {
        for (const [key, messages] of got) {
          const targets = key.endsWith(':pattern') ? channels : [key.slice(2)];
          for (const channel of targets) {
            const offsets = messages.filter((m) => m.channel === channel).map((m) => m.offset);
            assert.deepEqual(offsets, expected, `${key} on ${channel}`);
          }
        }
      }, 10_000);
      assert.deepEqual((await a.channels('multi.*')).sort(), [...channels].sort());
    });

    test('a master killed mid-stream: its channels start a new epoch; no offset is reused, nothing acknowledged vanishes unannounced', async (t) => {
      const prefix = `${runPrefix}${uid()}:`;
      const [a, b] = [await open(t, prefix), await open(t, prefix)];
      const channels = await spread('failover', 3);
      const victim = await cluster.masterOf(channelKeys('', channels[0] as string).meta);
      const before = new Map<string, string>();
      for (const channel of channels) before.set(channel, (await a.position(channel)).epoch);
      // Acknowledged publishes: channel → epoch → offset → data.
      const acked = new Map<string, Map<string, Map<number, string>>>();
      let stop = false;
      let failures = 0;
      let reused = 0;
      const unexpected: unknown[] = [];
      t.after(() => {
        stop = true;
      });
      const lastAck = new Map<string, number>();
      const lastFailure = new Map<string, number>();
      const writer = async (engine: RedisEngine, channel: string, tag: string) => {
        for (let i = 0; !stop; i++) {
          const data = JSON.stringify(`${tag}${i}`);
          try {
            const r = await engine.publish({ channel, data, policy: POLICY, id: `${tag}${i}` });
            lastAck.set(channel, Date.now());
            const epochs = acked.get(channel) ?? new Map();
            acked.set(channel, epochs);
            const offsets = epochs.get(r.epoch) ?? new Map();
            epochs.set(r.epoch, offsets);
            if (r.duplicate) continue;
            if (offsets.has(r.offset)) reused++;
            offsets.set(r.offset, data);
          } catch (error) {
            if (!(isTidingsError(error) && error.code === ErrorCode.engineUnavailable))
              unexpected.push(error);
            failures++;
            lastFailure.set(channel, Date.now());
            await sleep(20);
          }
        }
      };
      const writers = channels.flatMap((channel) => [
        writer(a, channel, `a-${channel}-`),
        writer(b, channel, `b-${channel}-`),
      ]);
      await sleep(300);
      // The replica stalls; the master, still acknowledging, queues what it must pass on behind 32 MB
      // that fill the socket between them; then the master dies: the writes still queued are lost.
      const replica = await cluster.replicaOf(victim);
      cluster.kill(replica, 'SIGSTOP');
      const filler = `${prefix}{${channels[0]}}:filler`;
      for (let i = 0; i < 4; i++) await cluster.call(victim, 'SET', `${filler}${i}`, 'x'.repeat(8_000_000));
      await sleep(300);
      const killedAt = Date.now();
      cluster.kill(victim);
      cluster.kill(replica, 'SIGCONT');
      // Until the victim's channel, refused after the kill, takes writes again (its replica promoted).
      const acceptedAgain = () => {
        const refused = lastFailure.get(channels[0] as string) ?? 0;
        return refused > killedAt && (lastAck.get(channels[0] as string) ?? 0) > refused;
      };
      await waitFor(acceptedAgain, 20_000, 'writes again');
      const recoveredMs = Date.now() - killedAt;
      await sleep(300);
      stop = true;
      await Promise.all(writers);

      let resets = 0;
      let lost = 0;
      let duplicated = 0;
      for (const channel of channels) {
        // The cluster may still be settling (connections to the promoted master): retry until it answers.
        let now = await a.read(channel, 0, 0).catch(() => null);
        await eventually(async () => {
          now = await a.read(channel, 0, 100_000);
        }, 10_000);
        assert.ok(now);
        const epochs = acked.get(channel) ?? new Map<string, Map<number, string>>();
        if (now.epoch !== before.get(channel)) resets++;
        // Every offset acknowledged in the current epoch is there with its data; any other epoch is
        // behind a reset, which a client sees.
        const current = epochs.get(now.epoch) ?? new Map<number, string>();
        const stored = new Map(now.messages.map((m) => [m.offset, m.data]));
        for (const [offset, data] of current) if (stored.get(offset) !== data) lost++;
        const ids = now.messages.map((m) => m.id);
        duplicated += ids.length - new Set(ids).size;
        assert.deepEqual(
          now.messages.map((m) => m.offset),
          Array.from({ length: now.offset }, (_, i) => i + 1),
          `${channel}: contiguous offsets`,
        );
      }
      console.log(
        `# failover: master ${victim} killed; writes again after ${recoveredMs} ms; ${failures} publishes refused meanwhile; ` +
          `channels reset ${resets}/${channels.length}, offsets acknowledged twice ${reused}, ` +
          `acknowledged messages lost without a reset ${lost}, duplicated ${duplicated}`,
      );
      assert.deepEqual(unexpected, []);
      assert.equal(reused, 0);
      assert.equal(lost, 0);
      assert.equal(duplicated, 0);
      assert.ok(resets >= 1, 'the killed master’s channel starts a new epoch');
      // Channels on the masters that stayed keep their epoch.
      assert.ok(resets < channels.length);
    });
  });
});
