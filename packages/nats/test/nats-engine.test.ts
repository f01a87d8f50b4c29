import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ErrorCode, isTidingsError } from '@tidings/protocol';
import type { EngineMessage, RetentionPolicy } from '@tidings/server';
import { engineContract, eventually } from '@tidings/testing';
import { NatsEngine } from '../src/index.js';
import {
  deleteStreams,
  NATS_URL,
  namespace,
  natsUnavailable,
  purgeChannel,
  Relay,
  testEngine,
} from './nats-helpers.js';

const POLICY: RetentionPolicy = { size: 10_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };
const data = (value: unknown) => JSON.stringify(value);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const channelName = () => `c${randomBytes(6).toString('hex')}`;

const unavailable = await natsUnavailable();
if (unavailable && process.env.CI === 'true') {
  test('NATS JetStream is reachable (required with CI=true)', () => {
    assert.fail(unavailable);
  });
}
const skip = unavailable ? `${unavailable}; skipped (set CI=true to fail instead)` : false;

const ns = namespace('engine');
const streamsToDelete = [ns.stream];
after(async () => {
  if (unavailable) return;
  for (const stream of streamsToDelete) await deleteStreams(stream);
});

if (!unavailable) {
  engineContract('NatsEngine', {
    create: async () => testEngine(ns),
    createPeer: async () => testEngine(ns),
    asyncDelivery: true,
    numRuns: Number(process.env.TIDINGS_NUM_RUNS ?? 25),
  });
}

async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(isTidingsError(error), `expected a TidingsError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

describe('NatsEngine on JetStream', { skip }, () => {
  test('three engines publishing concurrently to one channel take offsets 1..n once each', async (t) => {
    const engines = [testEngine(ns), testEngine(ns), testEngine(ns)];
    t.after(() => Promise.all(engines.map((e) => e.close())));
    await Promise.all(engines.map((e) => e.ready()));
    const channel = channelName();
    const results = await Promise.all(
      engines.flatMap((engine, e) =>
        range(1, 40).map((i) => engine.publish({ channel, data: data(`${e}:${i}`), policy: POLICY })),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.offset).sort((a, b) => a - b),
      range(1, 120),
    );
    assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
    const read = await engines[0]!.read(channel, 0, 1_000);
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      range(1, 120),
    );
    // Each stored message is the one its publish was told about.
    const byOffset = new Map(read.messages.map((m) => [m.offset, m.data]));
    engines.forEach((_, e) => {
      range(1, 40).forEach((i) => {
        const result = results[e * 40 + i - 1]!;
        assert.equal(byOffset.get(result.offset), data(`${e}:${i}`));
      });
    });
  });

  test('concurrent publishes to one channel are pipelined: many unacknowledged at once, offsets in call order', async (t) => {
    const engine = testEngine(ns);
    t.after(() => engine.close());
    const channel = channelName();
    await engine.publish({ channel, data: data('first'), policy: POLICY });
    // A plain connection sees each append as it reaches the server, and each acknowledgement of this
    // stream (the engine's replies come on _INBOX subjects). One at a time, at most one append would
    // ever be unacknowledged; pipelined, many are.
    const observer = await connect({ servers: NATS_URL });
    t.after(() => observer.close());
    let outstanding = 0;
    let peak = 0;
    let appends = 0;
    observer.subscribe(`${ns.subjectPrefix}.${channel}`, {
      callback: () => {
        appends++;
        peak = Math.max(peak, ++outstanding);
      },
    });
    const ackOfStream = `"stream":"${ns.stream}"`;
    observer.subscribe('_INBOX.>', {
      callback: (_, msg) => {
        if (msg.string().includes(ackOfStream)) outstanding--;
      },
    });
    await observer.flush();
    const results = await Promise.all(
      range(1, 200).map((i) => engine.publish({ channel, data: data(i), policy: POLICY })),
    );
    assert.deepEqual(
      results.map((r) => r.offset),
      range(2, 201),
    );
    await eventually(() => assert.equal(appends, 200));
    assert.ok(peak >= 10, `at most ${peak} appends were unacknowledged at once`);
    const read = await engine.read(channel, 1, 1_000);
    assert.deepEqual(
      read.messages.map((m) => m.data),
      range(1, 200).map(data),
    );
  });

  test('a round sent on a stale head fails whole and is appended again, in order, with no gap', async (t) => {
    const a = testEngine(ns);
    const b = testEngine(ns);
    t.after(() => Promise.all([a.close(), b.close()]));
    const channel = channelName();
    await a.publish({ channel, data: data('a'), policy: POLICY });
    // a's cached head is now stale: its whole next round loses the race on its first append.
    await b.publish({ channel, data: data('b'), policy: POLICY });
    const results = await Promise.all(
      range(1, 100).map((i) => a.publish({ channel, data: data(i), policy: POLICY })),
    );
    assert.deepEqual(
      results.map((r) => r.offset),
      range(3, 102),
    );
    const read = await b.read(channel, 0, 1_000);
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      range(1, 102),
    );
    assert.deepEqual(
      read.messages.slice(2).map((m) => m.data),
      range(1, 100).map(data),
    );
  });

  test('two engines pipelining to one channel: offsets 1..n once each, each engine in its call order', async (t) => {
    const engines = [testEngine(ns), testEngine(ns)];
    t.after(() => Promise.all(engines.map((e) => e.close())));
    await Promise.all(engines.map((e) => e.ready()));
    const channel = channelName();
    const perEngine = 300;
    // Several waves, so rounds of both engines interleave and break each other's chains.
    const results = (
      await Promise.all(
        engines.map(async (engine, e) => {
          const out = [];
          for (let wave = 0; wave < 3; wave++) {
            out.push(
              ...(await Promise.all(
                range(1, perEngine / 3).map((i) =>
                  engine.publish({ channel, data: data(`${e}:${wave * 100 + i}`), policy: POLICY }),
                ),
              )),
            );
          }
          return out;
        }),
      )
    ).flat();
    assert.deepEqual(
      results.map((r) => r.offset).sort((x, y) => x - y),
      range(1, 2 * perEngine),
    );
    const read = await engines[0]!.read(channel, 0, 10_000);
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      range(1, 2 * perEngine),
    );
    for (const e of [0, 1]) {
      const own = read.messages.map((m) => JSON.parse(m.data) as string).filter((d) => d.startsWith(`${e}:`));
      assert.deepEqual(
        own,
        range(1, perEngine).map((i) => `${e}:${i}`),
      );
    }
    const byOffset = new Map(read.messages.map((m) => [m.offset, m.data]));
    results.forEach((r, k) => {
      const e = Math.floor(k / perEngine);
      assert.equal(byOffset.get(r.offset), data(`${e}:${(k % perEngine) + 1}`));
    });
  });

  test('a repeated id from another engine with a stale ifOffset is a duplicate', async (t) => {
    const a = testEngine(ns);
    const b = testEngine(ns);
    t.after(() => Promise.all([a.close(), b.close()]));
    const channel = channelName();
    const first = await a.publish({ channel, data: data(1), id: 'once', ifOffset: 0, policy: POLICY });
    await a.publish({ channel, data: data(2), policy: POLICY });
    const again = await b.publish({ channel, data: data(1), id: 'once', ifOffset: 0, policy: POLICY });
    assert.deepEqual(again, { ...first, duplicate: true });
    await rejectsWithCode(
      b.publish({ channel, data: data(3), id: 'other', ifOffset: 0, policy: POLICY }),
      ErrorCode.conflict,
    );
    assert.equal((await a.position(channel)).offset, 2);
  });

  test('ids containing separators and line breaks stay distinct and round-trip', async (t) => {
    const engine = testEngine(ns);
    t.after(() => engine.close());
    const base = channelName();
    // `a:b` + `c` and `a` + `b:c` must not share a deduplication key.
    const one = await engine.publish({ channel: `${base}:x`, data: data(1), id: 'y', policy: POLICY });
    const two = await engine.publish({ channel: base, data: data(2), id: 'x:y', policy: POLICY });
    assert.equal(one.duplicate, false);
    assert.equal(two.duplicate, false);
    const odd = 'line\r\nbreak é = %';
    await engine.publish({ channel: base, data: data(3), id: odd, origin: odd, policy: POLICY });
    const read = await engine.read(base, 1, 10);
    assert.equal(read.messages[0]?.id, odd);
    assert.equal(read.messages[0]?.origin, odd);
  });

  test('purging a channel starts a new epoch, seen by every engine', async (t) => {
    const a = testEngine(ns);
    const b = testEngine(ns);
    t.after(() => Promise.all([a.close(), b.close()]));
    const channel = channelName();
    const received: EngineMessage[] = [];
    await b.subscribe(channel, { message: (m) => received.push(m) });
    for (let i = 1; i <= 3; i++) await a.publish({ channel, data: data(i), policy: POLICY });
    const old = await b.position(channel);
    assert.equal(old.offset, 3);

    await purgeChannel(ns.stream, ns.subjectPrefix, channel);

    const fresh = await b.position(channel);
    assert.notEqual(fresh.epoch, old.epoch);
    assert.equal(fresh.offset, 0);
    assert.deepEqual(await b.position(channel), fresh, 'the new epoch is stable before any publish');
    // `a` still remembers where the channel was; the append must notice it is gone.
    const next = await a.publish({ channel, data: data('again'), policy: POLICY });
    assert.deepEqual({ epoch: next.epoch, offset: next.offset }, { epoch: fresh.epoch, offset: 1 });
    const read = await a.read(channel, 0, 10);
    assert.equal(read.epoch, fresh.epoch);
    assert.equal(read.firstOffset, 1);
    assert.deepEqual(
      read.messages.map((m) => [m.epoch, m.offset]),
      [[fresh.epoch, 1]],
    );
    await eventually(() => assert.equal(received.length, 4));
    assert.deepEqual(
      received.map((m) => [m.epoch, m.offset]),
      [
        [old.epoch, 1],
        [old.epoch, 2],
        [old.epoch, 3],
        [fresh.epoch, 1],
      ],
    );
  });

  test('when max_age removes all of a channel, its next position is a new epoch', async (t) => {
    const short = namespace('age');
    streamsToDelete.push(short.stream);
    const engine = testEngine({ ...short, maxAgeMs: 1_000 });
    t.after(() => engine.close());
    const channel = channelName();
    const first = await engine.publish({ channel, data: data(1), policy: POLICY });
    await engine.publish({ channel, data: data(2), policy: POLICY });
    await sleep(1_600);
    const position = await engine.position(channel);
    assert.notEqual(position.epoch, first.epoch);
    assert.equal(position.offset, 0);
    const next = await engine.publish({ channel, data: data(3), policy: POLICY });
    assert.deepEqual({ epoch: next.epoch, offset: next.offset }, { epoch: position.epoch, offset: 1 });
  });

  test('reads find their start among interleaved channels, honouring size and ttl', async (t) => {
    const engine = testEngine(ns);
    t.after(() => engine.close());
    const a = channelName();
    const b = channelName();
    const sized = { ...POLICY, size: 25 };
    for (let i = 1; i <= 60; i++) {
      await engine.publish({ channel: a, data: data(i), policy: sized });
      // An irregular interleaving so that stream sequences and offsets do not line up.
      for (let j = 0; j < (i * 7) % 5; j++)
        await engine.publish({ channel: b, data: data(j), policy: POLICY });
    }
    for (const afterOffset of [0, 10, 35, 36, 37, 44, 50, 58, 59, 60, 70]) {
      for (const limit of [1, 3, 100]) {
        const read = await engine.read(a, afterOffset, limit);
        const start = Math.max(afterOffset + 1, 36);
        const expected = range(start, Math.min(60, start + limit - 1));
        assert.equal(read.firstOffset, 36);
        assert.equal(read.offset, 60);
        assert.deepEqual(
          read.messages.map((m) => m.offset),
          start > 60 ? [] : expected,
          `after ${afterOffset}, limit ${limit}`,
        );
        assert.ok(read.messages.every((m) => m.data === data(m.offset)));
      }
    }

    const c = channelName();
    const ttl = { ...POLICY, ttlMs: 1_500 };
    for (let i = 1; i <= 30; i++) await engine.publish({ channel: c, data: data(i), policy: ttl });
    await sleep(1_600);
    for (let i = 31; i <= 40; i++) await engine.publish({ channel: c, data: data(i), policy: ttl });
    const read = await engine.read(c, 0, 100);
    assert.equal(read.firstOffset, 31);
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      range(31, 40),
    );
    assert.deepEqual(
      (await engine.read(c, 35, 2)).messages.map((m) => m.offset),
      [36, 37],
    );
  });

  test('the live stream carries only stored messages', async (t) => {
    const engine = testEngine(ns);
    const peer = testEngine(ns);
    t.after(() => Promise.all([engine.close(), peer.close()]));
    const channel = channelName();
    const received: EngineMessage[] = [];
    await engine.subscribe(`${channel}.*`, { message: (m) => received.push(m) });
    const target = `${channel}.x`;
    await engine.publish({ channel: target, data: data(1), id: 'k', policy: POLICY });
    await peer.publish({ channel: target, data: data(1), id: 'k', policy: POLICY });
    await rejectsWithCode(
      peer.publish({ channel: target, data: data('nope'), ifOffset: 7, policy: POLICY }),
      ErrorCode.conflict,
    );
    await Promise.all([
      engine.publish({ channel: target, data: data(2), policy: POLICY }),
      peer.publish({ channel: target, data: data(3), policy: POLICY }),
    ]);
    await eventually(() => assert.equal(received.length, 3));
    await sleep(150);
    assert.deepEqual(
      received.map((m) => m.offset),
      [1, 2, 3],
    );
    assert.ok(received.every((m) => m.channel === target));
  });

  test('engines racing to name a new channel agree on one epoch', async (t) => {
    const engines = [testEngine(ns), testEngine(ns), testEngine(ns), testEngine(ns)];
    t.after(() => Promise.all(engines.map((e) => e.close())));
    await Promise.all(engines.map((e) => e.ready()));
    const channel = channelName();
    const positions = await Promise.all(
      engines.flatMap((e) => [e.position(channel), e.read(channel, 0, 10), e.position(channel)]),
    );
    assert.equal(new Set(positions.map((p) => p.epoch)).size, 1);
    assert.ok(positions.every((p) => p.offset === 0));
    const published = await engines[3]!.publish({ channel, data: data(1), policy: POLICY });
    assert.equal(published.epoch, positions[0]!.epoch);
    assert.equal(published.offset, 1);
  });

  test('a repeated id whose message was trimmed: the original position if known, else offset 0, never another message', async (t) => {
    const small = namespace('small');
    streamsToDelete.push(small.stream);
    const engine = testEngine({ ...small, maxMsgsPerSubject: 2 });
    const peer = testEngine({ ...small, maxMsgsPerSubject: 2 });
    t.after(() => Promise.all([engine.close(), peer.close()]));
    const channel = channelName();
    const first = await engine.publish({ channel, data: data(1), id: 'k', policy: POLICY });
    for (let i = 2; i <= 4; i++) await engine.publish({ channel, data: data(i), policy: POLICY });
    // The process that published it remembers its position.
    const again = await engine.publish({ channel, data: data(1), id: 'k', policy: POLICY });
    assert.deepEqual(again, { ...first, duplicate: true });
    // Another process cannot know it: offset 0, which no message has (and ts 0).
    const elsewhere = await peer.publish({ channel, data: data(1), id: 'k', policy: POLICY });
    assert.deepEqual(elsewhere, { epoch: first.epoch, offset: 0, ts: 0, duplicate: true });
    assert.equal((await peer.position(channel)).offset, 4, 'nothing new was stored');
    const read = await engine.read(channel, 0, 10);
    assert.equal(read.firstOffset, 3, 'the stream keeps its own per-subject limit');
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      [3, 4],
    );
  });

  test('an existing stream without the republish rule is refused with a clear error', async () => {
    const bare = namespace('bare');
    streamsToDelete.push(bare.stream);
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name: bare.stream,
        subjects: [`${bare.subjectPrefix}.>`],
        storage: StorageType.Memory,
      });
    } finally {
      await nc.close();
    }
    await assert.rejects(NatsEngine.connect({ ...bare, servers: NATS_URL }), (error) => {
      assert.ok(isTidingsError(error));
      assert.match(error.message, /allow_direct, republish/);
      return true;
    });
  });

  test('channels lists only this namespace', async (t) => {
    const engine = testEngine(ns);
    const other = testEngine(namespace('other'));
    streamsToDelete.push(other.stream);
    t.after(() => Promise.all([engine.close(), other.close()]));
    const base = channelName();
    await engine.publish({ channel: `${base}.a`, data: data(1), policy: POLICY });
    await other.publish({ channel: `${base}.b`, data: data(1), policy: POLICY });
    assert.deepEqual(await engine.channels(`${base}.*`), [`${base}.a`]);
    assert.deepEqual(await other.channels('>'), [`${base}.b`]);
  });

  test('after the connection drops and comes back, listeners resync and delivery resumes', async (t) => {
    const relay = await new Relay().start();
    const engine = testEngine({ ...ns, servers: relay.url, reconnectTimeWaitMs: 50 });
    const peer = testEngine(ns);
    t.after(async () => {
      await Promise.all([engine.close(), peer.close()]);
      await relay.stop();
    });
    const channel = channelName();
    const received: EngineMessage[] = [];
    let resyncs = 0;
    await engine.subscribe(channel, { message: (m) => received.push(m), resync: () => resyncs++ });
    await peer.publish({ channel, data: data(1), policy: POLICY });
    await eventually(() => assert.equal(received.length, 1));
    relay.cut();
    await eventually(() => assert.equal(resyncs, 1), 10_000);
    await peer.publish({ channel, data: data(2), policy: POLICY });
    await eventually(() => assert.deepEqual(received.at(-1)?.offset, 2));
    assert.equal((await engine.publish({ channel, data: data(3), policy: POLICY })).offset, 3);
  });

  test('calls fail with ENGINE_UNAVAILABLE while NATS is unreachable, and work again after', async (t) => {
    const relay = await new Relay().start();
    const port = relay.port;
    const engine = testEngine({ ...ns, servers: relay.url, requestTimeoutMs: 500, reconnectTimeWaitMs: 50 });
    t.after(async () => {
      await engine.close();
      await relay.stop().catch(() => {});
    });
    const channel = channelName();
    assert.equal((await engine.publish({ channel, data: data(1), policy: POLICY })).offset, 1);
    await relay.stop();
    const started = Date.now();
    await rejectsWithCode(
      engine.publish({ channel, data: data(2), policy: POLICY }),
      ErrorCode.engineUnavailable,
    );
    await rejectsWithCode(engine.read(channel, 0, 10), ErrorCode.engineUnavailable);
    assert.ok(Date.now() - started < 3_000, `failed within ${Date.now() - started} ms`);
    const back = await new Relay().start(port);
    t.after(() => back.stop());
    await eventually(async () => {
      assert.equal((await engine.publish({ channel, data: data(2), policy: POLICY })).offset, 2);
    }, 10_000);
  });
});

describe('NatsEngine without a server', () => {
  test('an unreachable server fails publish quickly with ENGINE_UNAVAILABLE', async (t) => {
    const engine = new NatsEngine({ servers: '127.0.0.1:1', connectTimeoutMs: 1_000 });
    t.after(() => engine.close());
    const started = Date.now();
    await rejectsWithCode(
      engine.publish({ channel: 'chat', data: data(1), policy: POLICY }),
      ErrorCode.engineUnavailable,
    );
    await rejectsWithCode(engine.position('chat'), ErrorCode.engineUnavailable);
    await rejectsWithCode(engine.subscribe('chat.*', { message() {} }), ErrorCode.engineUnavailable);
    assert.ok(Date.now() - started < 3_000, `failed within ${Date.now() - started} ms`);
    await rejectsWithCode(NatsEngine.connect({ servers: '127.0.0.1:1' }), ErrorCode.engineUnavailable);
  });

  test('invalid options and names are rejected up front', async () => {
    assert.throws(() => new NatsEngine({ stream: 'has.dot' }), { code: ErrorCode.invalidField });
    assert.throws(() => new NatsEngine({ subjectPrefix: 'a.*' }), { code: ErrorCode.invalidChannel });
    const engine = new NatsEngine({ servers: '127.0.0.1:1' });
    await rejectsWithCode(
      engine.publish({ channel: 'a.>', data: '1', policy: POLICY }),
      ErrorCode.invalidChannel,
    );
    await engine.close();
    await rejectsWithCode(engine.position('a'), ErrorCode.closed);
  });
});
