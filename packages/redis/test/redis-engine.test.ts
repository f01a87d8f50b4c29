import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isTidingsError } from '@tidings/protocol';
import type { EngineMessage, RetentionPolicy } from '@tidings/server';
import { engineContract, eventually } from '@tidings/testing';
import { channelKeys, indexKey, pubsubChannel, RedisEngine, type RedisEngineOptions } from '../src/index.js';
import { clientInfo, deleteKeys, keysUnder, killClient, uid, withRedis } from './support.js';

const POLICY: RetentionPolicy = { size: 1_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(isTidingsError(error), `expected a TidingsError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

await withRedis((admin, runPrefix) => {
  engineContract('redis', {
    create: async () => new RedisEngine({ prefix: `${runPrefix}contract:` }),
    // The same prefix is the same store, as for another server process.
    createPeer: async () => new RedisEngine({ prefix: `${runPrefix}contract:` }),
    asyncDelivery: true,
    numRuns: 20,
  });

  /** An engine with its own prefix (and connection name, to find its connections in CLIENT LIST). */
  async function open(t: TestContext, options: RedisEngineOptions = {}): Promise<RedisEngine> {
    const engine = new RedisEngine({ prefix: `${runPrefix}${uid()}:`, ...options });
    t.after(() => engine.close());
    await engine.ready();
    return engine;
  }

  function collect(engine: RedisEngine, target: string) {
    const messages: EngineMessage[] = [];
    let resyncs = 0;
    const ready = engine.subscribe(target, {
      message: (m) => messages.push(m),
      resync: () => resyncs++,
    });
    return {
      messages,
      resyncs: () => resyncs,
      ready,
    };
  }

  describe('redis engine', () => {
    test('three engines publishing at once take contiguous offsets', async (t) => {
      const a = await open(t);
      const b = await open(t, { prefix: a.prefix });
      const c = await open(t, { prefix: a.prefix });
      const channel = 'race';
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          [a, b, c][i % 3]?.publish({ channel, data: String(i), policy: POLICY }),
        ),
      );
      const offsets = results.map((r) => r?.offset ?? 0).sort((x, y) => x - y);
      assert.deepEqual(
        offsets,
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
      const read = await c.read(channel, 0, 1_000);
      assert.deepEqual(
        read.messages.map((m) => m.offset),
        offsets,
      );
    });

    test('concurrent publishes go out in a few socket writes, offsets in call order', async (t) => {
      const engine = await open(t);
      const socket = (engine.commandConnection as import('ioredis').Redis).stream;
      const write = socket.write;
      let writes = 0;
      socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
        writes++;
        return write.apply(this, args);
      } as typeof write;
      t.after(() => {
        socket.write = write;
      });
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          engine.publish({ channel: 'burst', data: String(i), policy: POLICY }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.offset),
        Array.from({ length: 500 }, (_, i) => i + 1),
      );
      // One write per publish without auto-pipelining; a handful of batches with it.
      assert.ok(writes <= 10, `500 publishes took ${writes} socket writes`);
      const read = await engine.read('burst', 0, 1_000);
      assert.deepEqual(
        read.messages.map((m) => m.data),
        Array.from({ length: 500 }, (_, i) => String(i)),
      );
    });

    test('losing the data starts a new epoch at offset 0', async (t) => {
      const engine = await open(t);
      const channel = 'lost';
      const sub = collect(engine, channel);
      await sub.ready;
      for (let i = 1; i <= 3; i++) await engine.publish({ channel, data: String(i), policy: POLICY });
      await engine.setSnapshot(channel, '"s"', POLICY);
      const before = await engine.position(channel);
      assert.equal(before.offset, 3);

      assert.ok((await deleteKeys(admin, engine.prefix)) > 0, 'the engine wrote under its prefix');
      const after = await engine.position(channel);
      assert.notEqual(after.epoch, before.epoch);
      assert.equal(after.offset, 0);
      assert.equal(await engine.snapshot(channel), null);
      assert.deepEqual(await engine.read(channel, 0, 10), { ...after, firstOffset: 1, messages: [] });

      const next = await engine.publish({ channel, data: '"again"', policy: POLICY });
      assert.deepEqual({ epoch: next.epoch, offset: next.offset }, { epoch: after.epoch, offset: 1 });
      await eventually(() =>
        assert.deepEqual(
          sub.messages.map((m) => [m.epoch, m.offset]),
          [
            [before.epoch, 1],
            [before.epoch, 2],
            [before.epoch, 3],
            [after.epoch, 1],
          ],
        ),
      );
    });

    test('a lost meta drops the old epoch’s history, snapshot and idempotency keys', async (t) => {
      const engine = await open(t);
      const channel = 'half-lost';
      const first = await engine.publish({ channel, data: '1', id: 'k', policy: POLICY });
      await engine.publish({ channel, data: '2', policy: POLICY });
      await engine.setSnapshot(channel, '"s"', POLICY);
      await admin.del(channelKeys(engine.prefix, channel).meta);

      const read = await engine.read(channel, 0, 10);
      assert.notEqual(read.epoch, first.epoch);
      assert.deepEqual([read.offset, read.firstOffset, read.messages], [0, 1, []]);
      assert.equal(await engine.snapshot(channel), null);
      const again = await engine.publish({ channel, data: '1', id: 'k', policy: POLICY });
      assert.deepEqual([again.epoch, again.offset, again.duplicate], [read.epoch, 1, false]);
    });

    test('a flushed script cache is reloaded', async (t) => {
      const engine = await open(t);
      await engine.publish({ channel: 'scripts', data: '1', policy: POLICY });
      await admin.script('FLUSH');
      const result = await engine.publish({ channel: 'scripts', data: '2', policy: POLICY });
      assert.equal(result.offset, 2);
    });

    test('data passes through raw, newlines and all', async (t) => {
      const engine = await open(t);
      const channel = 'raw';
      const sub = collect(engine, channel);
      await sub.ready;
      const data = '{\n  "text": "line 1\\nline 2 \\u2028 \\"quoted\\"",\n  "emoji": "🎉"\n}';
      await engine.publish({ channel, data, origin: 'o\n1', id: 'id "x"\n', policy: POLICY });
      const [stored] = (await engine.read(channel, 0, 1)).messages;
      assert.equal(stored?.data, data);
      assert.equal(stored?.origin, 'o\n1');
      assert.equal(stored?.id, 'id "x"\n');
      await eventually(() => assert.equal(sub.messages[0]?.data, data));
      await engine.setSnapshot(channel, data, POLICY);
      assert.equal((await engine.snapshot(channel))?.data, data);
    });

    test('every key lives under the prefix and expires', async (t) => {
      const engine = await open(t);
      await engine.publish({ channel: 'a.b', data: '1', id: 'key', policy: POLICY });
      await engine.setSnapshot('a.b', '2', POLICY);
      await engine.position('c');
      const keys = await keysUnder(admin, engine.prefix);
      const k = channelKeys(engine.prefix, 'a.b');
      assert.deepEqual(
        keys,
        [
          indexKey(engine.prefix),
          // The key within the server's own scope (no publisher): see scopedKey.
          `${engine.prefix}{a.b}:id:|key`,
          k.log,
          k.meta,
          k.snap,
          channelKeys(engine.prefix, 'c').meta,
        ].sort(),
      );
      for (const key of keys) assert.ok((await admin.pttl(key)) > 0, `${key} expires`);
    });

    test('an idle channel is forgotten; a snapshot keeps it longer', async (t) => {
      const engine = await open(t, { idleTtlMs: 300, snapshotTtlMs: 1_500 });
      const policy = { size: 10, ttlMs: 200, idempotencyMs: 100 };
      const plain = await engine.publish({ channel: 'idle.plain', data: '1', id: 'x', policy });
      const kept = await engine.publish({ channel: 'idle.kept', data: '1', policy });
      await engine.setSnapshot('idle.kept', '"s"', policy);
      assert.deepEqual((await engine.channels('idle.*')).sort(), ['idle.kept', 'idle.plain']);

      await sleep(700);
      assert.deepEqual(await engine.channels('idle.*'), ['idle.kept']);
      const reborn = await engine.position('idle.plain');
      assert.notEqual(reborn.epoch, plain.epoch);
      assert.equal(reborn.offset, 0);

      const read = await engine.read('idle.kept', 0, 10);
      assert.deepEqual([read.epoch, read.offset, read.firstOffset, read.messages], [kept.epoch, 1, 2, []]);
      assert.equal((await engine.snapshot('idle.kept'))?.offset, 1);
    });

    test('a listened-to channel is kept alive', async (t) => {
      const engine = await open(t, { idleTtlMs: 3_000 });
      const policy = { size: 10, ttlMs: 100, idempotencyMs: 100 };
      const sub = collect(engine, 'kept');
      await sub.ready;
      const first = await engine.publish({ channel: 'kept', data: '1', policy });
      await sleep(300);
      const second = await engine.publish({ channel: 'kept', data: '2', policy });
      assert.deepEqual([second.epoch, second.offset], [first.epoch, 2]);
    });

    test('listeners share one Redis subscription per channel and per pattern', async (t) => {
      const name = `tidings-test-${uid()}`;
      const engine = await open(t, { redis: { connectionName: name } });
      const info = async () => {
        const fields = await clientInfo(admin, `${name}:sub`);
        return [Number(fields?.sub), Number(fields?.psub)];
      };
      const stops = await Promise.all([
        engine.subscribe('room.a', { message() {} }),
        engine.subscribe('room.a', { message() {} }),
        engine.subscribe('room.*', { message() {} }),
        engine.subscribe('room.>', { message() {} }),
      ]);
      assert.deepEqual(await info(), [1, 1], 'room.* and room.> share one glob');
      stops[0]?.();
      stops[2]?.();
      await sleep(50);
      assert.deepEqual(await info(), [1, 1]);
      stops[1]?.();
      stops[3]?.();
      await eventually(async () => assert.deepEqual(await info(), [0, 0]));
      const numsub = (await admin.call(
        'PUBSUB',
        'NUMSUB',
        pubsubChannel(engine.prefix, 'room.a'),
      )) as unknown[];
      assert.equal(Number(numsub[1]), 0);
    });

    test('pattern globs escape the prefix', async (t) => {
      const base = `${runPrefix}${uid()}`;
      const odd = await open(t, { prefix: `${base}?[*]:` });
      const plain = await open(t, { prefix: `${base}x*:` });
      const sub = collect(odd, 'chat.*');
      await sub.ready;
      await plain.publish({ channel: 'chat.a', data: '"other"', policy: POLICY });
      await odd.publish({ channel: 'chat.a', data: '"mine"', policy: POLICY });
      await odd.publish({ channel: 'chat.a.b', data: '"deeper"', policy: POLICY });
      await eventually(() => assert.equal(sub.messages.length, 1));
      await sleep(100);
      assert.deepEqual(
        sub.messages.map((m) => m.data),
        ['"mine"'],
      );
    });

    test('a dropped subscriber connection resyncs listeners and delivery resumes', async (t) => {
      const name = `tidings-test-${uid()}`;
      const engine = await open(t, { redis: { connectionName: name } });
      const exact = collect(engine, 'drop.a');
      const pattern = collect(engine, 'drop.*');
      await Promise.all([exact.ready, pattern.ready]);
      await engine.publish({ channel: 'drop.a', data: '1', policy: POLICY });
      await eventually(() => assert.equal(exact.messages.length, 1));

      const killed = await killClient(admin, `${name}:sub`);

      await eventually(() => {
        assert.equal(exact.resyncs(), 1);
        assert.equal(pattern.resyncs(), 1);
      });
      const afterKill = await clientInfo(admin, `${name}:sub`);
      assert.notEqual(afterKill?.id, killed);
      assert.deepEqual([afterKill?.sub, afterKill?.psub], ['1', '1'], 'resubscribed before resync');

      await engine.publish({ channel: 'drop.a', data: '2', policy: POLICY });
      await eventually(() => {
        assert.deepEqual(
          exact.messages.map((m) => m.offset),
          [1, 2],
        );
        assert.deepEqual(
          pattern.messages.map((m) => m.offset),
          [1, 2],
        );
      });
    });

    test('a dropped command connection fails fast, then recovers', async (t) => {
      const name = `tidings-test-${uid()}`;
      const engine = await open(t, { redis: { connectionName: name } });
      await engine.publish({ channel: 'cmd', data: '1', policy: POLICY });
      await killClient(admin, name);
      let next: number | undefined;
      await eventually(async () => {
        try {
          next = (await engine.publish({ channel: 'cmd', data: '2', policy: POLICY })).offset;
        } catch (error) {
          assert.ok(isTidingsError(error) && error.code === ErrorCode.engineUnavailable, String(error));
          throw error;
        }
      });
      assert.equal(next, 2);
    });

    test('an unreachable Redis fails every call promptly with ENGINE_UNAVAILABLE', async (t) => {
      const engine = new RedisEngine({ url: 'redis://127.0.0.1:1', prefix: `${runPrefix}nowhere:` });
      t.after(() => engine.close());
      const started = Date.now();
      await rejectsWith(
        engine.publish({ channel: 'x', data: '1', policy: POLICY }),
        ErrorCode.engineUnavailable,
      );
      await rejectsWith(engine.position('x'), ErrorCode.engineUnavailable);
      await rejectsWith(engine.read('x', 0, 10), ErrorCode.engineUnavailable);
      await rejectsWith(engine.channels('>'), ErrorCode.engineUnavailable);
      await rejectsWith(engine.subscribe('x', { message() {} }), ErrorCode.engineUnavailable);
      assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
      await engine.close();
      await rejectsWith(engine.position('x'), ErrorCode.closed);
    });

    test('a publish while the first connection is made waits for it, in call order', async () => {
      const engine = new RedisEngine({ prefix: `${runPrefix}${uid()}:` });
      try {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            engine.publish({ channel: 'early', data: String(i), policy: POLICY }),
          ),
        );
        assert.deepEqual(
          results.map((r) => r.offset),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        const read = await engine.read('early', 0, 100);
        assert.deepEqual(
          read.messages.map((m) => m.data),
          Array.from({ length: 20 }, (_, i) => String(i)),
        );
      } finally {
        await engine.close();
      }
    });
  });
});
