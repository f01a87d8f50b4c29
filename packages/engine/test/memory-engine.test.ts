import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { engineContract } from '@tidings/engine/testing';
import { ErrorCode, isTidingsError, TidingsError } from '@tidings/protocol';
import {
  type Engine,
  type EngineMessage,
  MemoryEngine,
  memoryEngine,
  type PublishRequest,
  type RetentionPolicy,
  type StreamListener,
} from '../src/index.js';

engineContract('memory', { create: async () => new MemoryEngine() });

/**
 * Several "processes" sharing one MemoryEngine, each delivering on a later turn of the event loop:
 * exercises the contract's peer and asynchronous-delivery paths the way a Redis or NATS engine would.
 */
class SharedView implements Engine {
  readonly #stops = new Set<() => void>();
  #closed = false;

  constructor(readonly inner: MemoryEngine) {}

  #open(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'view closed');
  }
  async publish(request: PublishRequest) {
    this.#open();
    return this.inner.publish(request);
  }
  async position(channel: string) {
    this.#open();
    return this.inner.position(channel);
  }
  async read(channel: string, after: number, limit: number) {
    this.#open();
    return this.inner.read(channel, after, limit);
  }
  async setSnapshot(channel: string, data: string, policy: RetentionPolicy) {
    this.#open();
    return this.inner.setSnapshot(channel, data, policy);
  }
  async snapshot(channel: string) {
    this.#open();
    return this.inner.snapshot(channel);
  }
  async channels(pattern: string) {
    this.#open();
    return this.inner.channels(pattern);
  }
  async subscribe(channelOrPattern: string, listener: StreamListener) {
    this.#open();
    let live = true;
    const inner = await this.inner.subscribe(channelOrPattern, {
      message: (m) => setImmediate(() => live && listener.message(m)),
    });
    const stop = () => {
      live = false;
      inner();
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return stop;
  }
  async close() {
    this.#closed = true;
    for (const stop of this.#stops) stop();
  }
}

{
  let shared: MemoryEngine | undefined;
  const view = async () => {
    shared ??= new MemoryEngine();
    return new SharedView(shared);
  };
  engineContract('memory shared by async views (contract self-test)', {
    create: view,
    createPeer: view,
    asyncDelivery: true,
    channelPrefix: 'view.',
    numRuns: 20,
  });
  after(() => shared?.close());
}

const POLICY: RetentionPolicy = { size: 100, ttlMs: 60_000, idempotencyMs: 60_000 };

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  const clock = {
    now: start,
    advance(ms: number) {
      clock.now += ms;
    },
  };
  return clock;
}

describe('memory engine', () => {
  test('publish delivers synchronously, before it returns', async (t) => {
    const engine = memoryEngine();
    t.after(() => engine.close());
    const seen: number[] = [];
    await engine.subscribe('sync', { message: (m) => seen.push(m.offset) });
    await engine.subscribe('sync.>', { message: (m) => seen.push(-m.offset) });
    const pending = engine.publish({ channel: 'sync', data: '1', policy: POLICY });
    assert.deepEqual(seen, [1], 'delivered inside the call, before any await');
    engine.publish({ channel: 'sync.x', data: '1', policy: POLICY });
    assert.deepEqual(seen, [1, -1]);
    assert.equal((await pending).offset, 1);
  });

  test('every effect is applied inside the call', async (t) => {
    const engine = new MemoryEngine();
    t.after(() => engine.close());
    const seen: number[] = [];
    void engine.subscribe('now', { message: (m) => seen.push(m.offset) });
    void engine.publish({ channel: 'now', data: '1', policy: POLICY });
    void engine.setSnapshot('now', '"s"', POLICY);
    assert.deepEqual(seen, [1]);
    const position = engine.position('now');
    void engine.publish({ channel: 'now', data: '2', policy: POLICY });
    assert.equal((await position).offset, 1, 'position is read at call time');
    assert.equal((await engine.snapshot('now'))?.offset, 1);
  });

  test('a throwing listener breaks neither publish nor the other listeners', async (t) => {
    const errors: unknown[] = [];
    const engine = new MemoryEngine({ onListenerError: (error) => errors.push(error) });
    t.after(() => engine.close());
    const seen: string[] = [];
    await engine.subscribe('boom', {
      message() {
        throw new Error('listener failure');
      },
    });
    await engine.subscribe('boom', { message: (m) => seen.push(`exact ${m.offset}`) });
    await engine.subscribe('*', { message: (m) => seen.push(`pattern ${m.offset}`) });
    const result = await engine.publish({ channel: 'boom', data: '1', policy: POLICY });
    assert.equal(result.offset, 1);
    assert.deepEqual(seen, ['exact 1', 'pattern 1']);
    assert.equal(errors.length, 1);
  });

  test('a listener may unsubscribe itself during delivery', async (t) => {
    const engine = new MemoryEngine();
    t.after(() => engine.close());
    const seen: string[] = [];
    const stop = await engine.subscribe('self', {
      message: (m) => {
        seen.push(`first ${m.offset}`);
        stop();
      },
    });
    await engine.subscribe('self', { message: (m) => seen.push(`second ${m.offset}`) });
    await engine.publish({ channel: 'self', data: '1', policy: POLICY });
    await engine.publish({ channel: 'self', data: '2', policy: POLICY });
    assert.deepEqual(seen, ['first 1', 'second 1', 'second 2']);
  });

  test('an injected clock drives age trimming', async (t) => {
    const clock = manualClock();
    const engine = new MemoryEngine({ now: () => clock.now, sweepIntervalMs: 0 });
    t.after(() => engine.close());
    const policy = { ...POLICY, ttlMs: 1_000 };
    await engine.setSnapshot('aged', '"keep me"', policy);
    const { epoch } = await engine.position('aged');
    await engine.publish({ channel: 'aged', data: '1', policy });
    clock.advance(600);
    const second = await engine.publish({ channel: 'aged', data: '2', policy });
    assert.equal(second.ts, clock.now);
    clock.advance(500);
    let read = await engine.read('aged', 0, 10);
    assert.deepEqual(
      read.messages.map((m) => m.offset),
      [2],
    );
    assert.equal(read.firstOffset, 2);
    clock.advance(600);
    read = await engine.read('aged', 0, 10);
    assert.deepEqual(read.messages, []);
    assert.deepEqual(
      { epoch: read.epoch, offset: read.offset, firstOffset: read.firstOffset },
      {
        epoch,
        offset: 2,
        firstOffset: 3,
      },
    );
  });

  test('idempotency keys expire after policy.idempotencyMs', async (t) => {
    const clock = manualClock();
    const engine = new MemoryEngine({ now: () => clock.now, sweepIntervalMs: 0 });
    t.after(() => engine.close());
    const policy = { ...POLICY, idempotencyMs: 1_000 };
    const first = await engine.publish({ channel: 'ids', data: '1', id: 'k', policy });
    clock.advance(999);
    assert.equal((await engine.publish({ channel: 'ids', data: '1', id: 'k', policy })).duplicate, true);
    clock.advance(1);
    const later = await engine.publish({ channel: 'ids', data: '1', id: 'k', policy });
    assert.equal(later.duplicate, false);
    assert.equal(later.offset, first.offset + 1);
  });

  test('a sweep forgets idle channels holding nothing; using one again starts a new epoch', async (t) => {
    const clock = manualClock();
    const engine = new MemoryEngine({ now: () => clock.now, sweepIntervalMs: 0, idleTtlMs: 5_000 });
    t.after(() => engine.close());
    const policy = { ...POLICY, ttlMs: 1_000, idempotencyMs: 500 };
    const publish = (channel: string) => engine.publish({ channel, data: '1', policy });
    const first = await publish('gone');
    await publish('snapshotted');
    await engine.setSnapshot('snapshotted', '"s"', policy);
    await publish('followed');
    const stop = await engine.subscribe('followed', { message() {} });
    await publish('busy');

    clock.advance(999);
    await publish('busy');
    engine.sweep();
    assert.deepEqual((await engine.channels('>')).sort(), ['busy', 'followed', 'gone', 'snapshotted']);

    // A message is expired once older than ttlMs (ts < now - ttlMs), so one more ms.
    clock.advance(1);
    engine.sweep();
    assert.deepEqual((await engine.channels('>')).sort(), ['busy', 'followed', 'gone', 'snapshotted']);
    clock.advance(1);
    engine.sweep();
    assert.deepEqual((await engine.channels('>')).sort(), ['busy', 'followed', 'snapshotted']);
    const again = await engine.position('gone');
    assert.equal(again.offset, 0);
    assert.notEqual(again.epoch, first.epoch);

    // Idle time counts from the last subscriber leaving.
    stop();
    clock.advance(999);
    engine.sweep();
    assert.ok((await engine.channels('followed')).includes('followed'));
    clock.advance(1);
    engine.sweep();
    assert.deepEqual(await engine.channels('followed'), []);

    clock.advance(10_000);
    engine.sweep();
    assert.deepEqual(await engine.channels('>'), ['snapshotted']);
  });

  test('live idempotency keys keep a channel known', async (t) => {
    const clock = manualClock();
    const engine = new MemoryEngine({ now: () => clock.now, sweepIntervalMs: 0 });
    t.after(() => engine.close());
    const policy = { ...POLICY, ttlMs: 100, idempotencyMs: 5_000 };
    const first = await engine.publish({ channel: 'keyed', data: '1', id: 'k', policy });
    clock.advance(1_000);
    engine.sweep();
    const again = await engine.publish({ channel: 'keyed', data: '1', id: 'k', policy });
    assert.deepEqual(again, { ...first, duplicate: true });
    clock.advance(5_000);
    engine.sweep();
    assert.deepEqual(await engine.channels('keyed'), []);
  });

  test('channels never given a policy are forgotten after idleTtlMs', async (t) => {
    const clock = manualClock();
    const engine = new MemoryEngine({ now: () => clock.now, sweepIntervalMs: 0, idleTtlMs: 2_000 });
    t.after(() => engine.close());
    await engine.position('looked-at');
    clock.advance(1_999);
    engine.sweep();
    assert.deepEqual(await engine.channels('looked-at'), ['looked-at']);
    clock.advance(1);
    engine.sweep();
    assert.deepEqual(await engine.channels('looked-at'), []);
  });

  test('the policy of each call applies', async (t) => {
    const engine = new MemoryEngine({ sweepIntervalMs: 0 });
    t.after(() => engine.close());
    for (let i = 1; i <= 10; i++) await engine.publish({ channel: 'p', data: String(i), policy: POLICY });
    await engine.publish({ channel: 'p', data: '11', policy: { ...POLICY, size: 3 } });
    assert.equal((await engine.read('p', 0, 100)).firstOffset, 9);
  });

  test('long histories trim and compact correctly', async (t) => {
    const engine = new MemoryEngine({ sweepIntervalMs: 0 });
    t.after(() => engine.close());
    const policy = { ...POLICY, size: 100 };
    for (let i = 1; i <= 5_000; i++) {
      await engine.publish({ channel: 'long', data: String(i), policy });
      if (i % 397 === 0) {
        const read = await engine.read('long', 0, 1_000);
        const first = Math.max(1, i - 99);
        assert.equal(read.firstOffset, first);
        assert.deepEqual(
          read.messages.map((m: EngineMessage) => Number(m.data)),
          Array.from({ length: i - first + 1 }, (_, k) => first + k),
        );
      }
    }
    const tail = await engine.read('long', 4_990, 5);
    assert.deepEqual(
      tail.messages.map((m) => m.offset),
      [4_991, 4_992, 4_993, 4_994, 4_995],
    );
  });

  test('epochs are 12 characters of [A-Za-z0-9] and differ per channel', async (t) => {
    const engine = new MemoryEngine();
    t.after(() => engine.close());
    const epochs = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { epoch } = await engine.position(`e${i}`);
      assert.match(epoch, /^[A-Za-z0-9]{12}$/);
      epochs.add(epoch);
    }
    assert.equal(epochs.size, 200);
  });

  test('close is idempotent and drops listeners', async () => {
    const engine = new MemoryEngine();
    let calls = 0;
    const stop = await engine.subscribe('c', { message: () => calls++ });
    await engine.close();
    await engine.close();
    stop();
    await assert.rejects(engine.position('c'), (e) => isTidingsError(e) && e.code === ErrorCode.closed);
    assert.equal(calls, 0);
  });
});
