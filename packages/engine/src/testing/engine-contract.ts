import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isTidingsError, patternMatcher } from '@tidings/protocol';
import fc from 'fast-check';
import type { Engine, EngineMessage, PublishResult, RetentionPolicy } from '../engine.js';
import { EngineModel, type ModelMessage } from './engine-model.js';
import { eventually } from './eventually.js';

export interface EngineContractSetup {
  /** A fresh engine; the suite closes it. */
  create(): Promise<Engine>;
  /** A second engine on the same backing store (another "process"); omit for the memory engine. */
  createPeer?(): Promise<Engine>;
  /** Prepended to every channel name the suite uses (each test adds a random part of its own). */
  channelPrefix?: string;
  /** The engine may deliver live messages asynchronously (Redis/NATS): tests wait for them. */
  asyncDelivery?: boolean;
  /**
   * The engine may deliver messages of channels that do not match a pattern subscription (the Engine
   * interface allows it; the hub filters). The pattern tests then check only the matching ones.
   */
  loosePatterns?: boolean;
  /**
   * Messages of different channels may reach a pattern listener in another order than they were
   * published one after the other (Redis Cluster: each channel's messages come from its own node).
   * Order within a channel is always required.
   */
  unorderedAcrossChannels?: boolean;
  /** Runs of the property test (default 100). */
  numRuns?: number;
  /** How long to wait for an asynchronous delivery before failing, ms (default 5 000). */
  deliveryTimeoutMs?: number;
}

const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Generous enough that nothing expires or is trimmed during a test. */
const POLICY: RetentionPolicy = { size: 10_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };

function uid(): string {
  return randomBytes(6).toString('hex');
}

function data(value: unknown): string {
  return JSON.stringify(value);
}

/** Rejects unless `promise` rejects with a TidingsError of `code`; resolves with that error. */
async function rejectsWith(promise: Promise<unknown>, code: ErrorCode) {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(isTidingsError(caught), `expected a TidingsError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

interface Collector {
  readonly messages: EngineMessage[];
  stop(): void;
}

async function collect(engine: Engine, channelOrPattern: string): Promise<Collector> {
  const messages: EngineMessage[] = [];
  const stop = await engine.subscribe(channelOrPattern, { message: (m) => messages.push(m) });
  return { messages, stop };
}

function offsets(messages: readonly { offset: number }[]): number[] {
  return messages.map((m) => m.offset);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * Registers the contract every engine (memory, Redis, NATS) must pass, as one `describe` block of
 * node:test tests named after `name`.
 */
export function engineContract(name: string, setup: EngineContractSetup): void {
  const prefix = setup.channelPrefix ?? '';
  const asyncDelivery = setup.asyncDelivery ?? false;
  const timeoutMs = setup.deliveryTimeoutMs ?? 5_000;
  // Tests of two engines sharing one store exist only for engines that have a peer (not the memory engine).
  const peerTest = setup.createPeer ? test : ((() => {}) as unknown as typeof test);

  /** A channel-name stem unique to one test. */
  const stem = () => `${prefix}t${uid()}`;

  async function open(t: TestContext, create: () => Promise<Engine> = setup.create): Promise<Engine> {
    const engine = await create();
    t.after(() => engine.close());
    await engine.ready?.();
    return engine;
  }

  const openPeer = (t: TestContext) => open(t, setup.createPeer);

  /** Synchronous engines must have delivered by the time publish resolves; others get a while. */
  function delivered(assertion: () => void): Promise<void> {
    if (!asyncDelivery) {
      assertion();
      return Promise.resolve();
    }
    return eventually(assertion, timeoutMs);
  }

  /** Gives an asynchronous engine the chance to deliver something it should not. */
  const settle = () => (asyncDelivery ? sleep(150) : Promise.resolve());

  describe(`engine contract: ${name}`, () => {
    describe('positions', () => {
      test('a new channel is at offset 0 with a stable epoch', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const first = await engine.position(channel);
        assert.equal(first.offset, 0);
        assert.match(first.epoch, EPOCH_RE);
        assert.deepEqual(await engine.position(channel), first);
        const read = await engine.read(channel, 0, 10);
        assert.deepEqual({ epoch: read.epoch, offset: read.offset }, first);
      });

      test('different channels are independent', async (t) => {
        const engine = await open(t);
        const a = stem();
        const b = stem();
        await engine.publish({ channel: a, data: data(1), policy: POLICY });
        await engine.publish({ channel: a, data: data(2), policy: POLICY });
        assert.equal((await engine.position(a)).offset, 2);
        assert.equal((await engine.position(b)).offset, 0);
        assert.equal((await engine.publish({ channel: b, data: data(1), policy: POLICY })).offset, 1);
      });
    });

    describe('publish', () => {
      test('offsets run 1, 2, 3, … in call order and the epoch stays', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const { epoch } = await engine.position(channel);
        for (let i = 1; i <= 10; i++) {
          const result = await engine.publish({ channel, data: data(i), policy: POLICY });
          assert.equal(result.offset, i);
          assert.equal(result.epoch, epoch);
          assert.equal(result.duplicate, false);
          assert.ok(Number.isFinite(result.ts) && result.ts > 0, 'ts is a time in ms');
        }
        assert.deepEqual(await engine.position(channel), { epoch, offset: 10 });
      });

      test('200 concurrent publishes take offsets 1..200 once each, in call order', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const results = await Promise.all(
          range(1, 200).map((i) => engine.publish({ channel, data: data(i), policy: POLICY })),
        );
        assert.deepEqual(offsets(results), range(1, 200));
        assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
        const read = await engine.read(channel, 0, 1_000);
        assert.deepEqual(
          read.messages.map((m) => [m.offset, m.data]),
          range(1, 200).map((i) => [i, data(i)]),
        );
      });

      peerTest('publishes split between two engines stay contiguous and unique', async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const channel = stem();
        const [fromA, fromB] = await Promise.all([
          Promise.all(range(1, 100).map((i) => a.publish({ channel, data: data(`a${i}`), policy: POLICY }))),
          Promise.all(range(1, 100).map((i) => b.publish({ channel, data: data(`b${i}`), policy: POLICY }))),
        ]);
        const all = offsets([...fromA, ...fromB]).sort((x, y) => x - y);
        assert.deepEqual(all, range(1, 200));
        assert.equal(new Set([...fromA, ...fromB].map((r) => r.epoch)).size, 1);
        for (const mine of [fromA, fromB]) {
          const own = offsets(mine);
          assert.deepEqual(
            own,
            [...own].sort((x, y) => x - y),
            'one engine keeps its call order',
          );
        }
        assert.deepEqual(await a.position(channel), await b.position(channel));
      });

      test('ifOffset publishes only at that offset', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const { epoch } = await engine.position(channel);
        assert.equal(
          (await engine.publish({ channel, data: data(1), ifOffset: 0, policy: POLICY })).offset,
          1,
        );
        assert.equal(
          (await engine.publish({ channel, data: data(2), ifOffset: 1, policy: POLICY })).offset,
          2,
        );
        for (const stale of [0, 1, 3, 99]) {
          const error = await rejectsWith(
            engine.publish({ channel, data: data('late'), ifOffset: stale, policy: POLICY }),
            ErrorCode.conflict,
          );
          assert.equal(error.details?.offset, 2);
          assert.equal(error.details?.epoch, epoch);
        }
        assert.equal((await engine.position(channel)).offset, 2);
        assert.deepEqual(offsets((await engine.read(channel, 0, 10)).messages), [1, 2]);
      });

      peerTest('ifOffset is checked against the shared offset', async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const channel = stem();
        await a.publish({ channel, data: data(1), policy: POLICY });
        const error = await rejectsWith(
          b.publish({ channel, data: data(2), ifOffset: 0, policy: POLICY }),
          ErrorCode.conflict,
        );
        assert.equal(error.details?.offset, 1);
        assert.equal((await b.publish({ channel, data: data(2), ifOffset: 1, policy: POLICY })).offset, 2);
      });
    });

    describe('idempotency', () => {
      test('a repeated id returns the original result and is stored and delivered once', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const sub = await collect(engine, channel);
        const first = await engine.publish({ channel, data: data('x'), id: 'k1', policy: POLICY });
        await engine.publish({ channel, data: data('y'), policy: POLICY });
        const again = await engine.publish({ channel, data: data('x2'), id: 'k1', policy: POLICY });
        assert.equal(first.duplicate, false);
        assert.deepEqual(again, { ...first, duplicate: true } satisfies PublishResult);
        assert.equal((await engine.position(channel)).offset, 2);
        const read = await engine.read(channel, 0, 10);
        assert.deepEqual(
          read.messages.map((m) => [m.offset, m.data]),
          [
            [1, data('x')],
            [2, data('y')],
          ],
        );
        assert.equal(read.messages[0]?.id, 'k1');
        await delivered(() => assert.deepEqual(offsets(sub.messages), [1, 2]));
        // Publish once more so a late duplicate delivery would show up before this one.
        await engine.publish({ channel, data: data('z'), policy: POLICY });
        await delivered(() => assert.deepEqual(offsets(sub.messages), [1, 2, 3]));
      });

      test('a repeated id with a stale ifOffset is a duplicate, not a conflict', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const first = await engine.publish({ channel, data: data(1), id: 'k', ifOffset: 0, policy: POLICY });
        const again = await engine.publish({ channel, data: data(1), id: 'k', ifOffset: 0, policy: POLICY });
        assert.deepEqual(again, { ...first, duplicate: true });
      });

      test('ids are per channel', async (t) => {
        const engine = await open(t);
        const a = stem();
        const b = stem();
        await engine.publish({ channel: a, data: data(1), policy: POLICY });
        const inA = await engine.publish({ channel: a, data: data(2), id: 'same', policy: POLICY });
        const inB = await engine.publish({ channel: b, data: data(2), id: 'same', policy: POLICY });
        assert.equal(inA.duplicate, false);
        assert.equal(inB.duplicate, false);
        assert.equal(inA.offset, 2);
        assert.equal(inB.offset, 1);
      });

      test("ids are per publisher: another publisher's id never matches, the same publisher's does", async (t) => {
        const engine = await open(t);
        const channel = stem();
        const key = 'order-42-shipped';
        // A client takes the key first; the server's own publish (no publisher) is still stored.
        const client = await engine.publish({
          channel,
          data: data('forged'),
          id: key,
          publisher: 'user:mallory',
          policy: POLICY,
        });
        const server = await engine.publish({ channel, data: data('real'), id: key, policy: POLICY });
        const other = await engine.publish({
          channel,
          data: data('b'),
          id: key,
          publisher: 'user:bob',
          policy: POLICY,
        });
        assert.deepEqual(
          [client, server, other].map((r) => [r.offset, r.duplicate]),
          [
            [1, false],
            [2, false],
            [3, false],
          ],
        );
        // Each publisher's retry finds its own original.
        const retries = [
          await engine.publish({
            channel,
            data: data('x'),
            id: key,
            publisher: 'user:mallory',
            policy: POLICY,
          }),
          await engine.publish({ channel, data: data('x'), id: key, policy: POLICY }),
          await engine.publish({ channel, data: data('x'), id: key, publisher: 'user:bob', policy: POLICY }),
        ];
        assert.deepEqual(
          retries,
          [client, server, other].map((r) => ({ ...r, duplicate: true })),
        );
        // A publisher whose name holds the separator cannot reach into another scope.
        const tricky = await engine.publish({
          channel,
          data: data('t'),
          id: `${key}`,
          publisher: '|',
          policy: POLICY,
        });
        assert.equal(tricky.duplicate, false);
        const read = await engine.read(channel, 0, 10);
        assert.deepEqual(
          read.messages.map((m) => m.id),
          [key, key, key, key],
        );
      });

      peerTest("a publisher's ids are shared between engines", async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const channel = stem();
        const first = await a.publish({
          channel,
          data: data(1),
          id: 'k',
          publisher: 'user:p',
          policy: POLICY,
        });
        const again = await b.publish({
          channel,
          data: data(1),
          id: 'k',
          publisher: 'user:p',
          policy: POLICY,
        });
        const other = await b.publish({
          channel,
          data: data(1),
          id: 'k',
          publisher: 'user:q',
          policy: POLICY,
        });
        assert.deepEqual(again, { ...first, duplicate: true });
        assert.equal(other.duplicate, false);
      });

      peerTest('ids are shared between engines', async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const channel = stem();
        const first = await a.publish({ channel, data: data(1), id: 'shared', policy: POLICY });
        const again = await b.publish({ channel, data: data(1), id: 'shared', policy: POLICY });
        assert.equal(again.duplicate, true);
        assert.equal(again.offset, first.offset);
        assert.equal(again.epoch, first.epoch);
        assert.equal((await a.position(channel)).offset, 1);
      });
    });

    describe('read', () => {
      test('after and limit select the messages; firstOffset and the position come along', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const { epoch } = await engine.position(channel);
        const empty = await engine.read(channel, 0, 10);
        assert.deepEqual(empty, { epoch, offset: 0, firstOffset: 1, messages: [] });
        for (let i = 1; i <= 10; i++) await engine.publish({ channel, data: data(i), policy: POLICY });

        const all = await engine.read(channel, 0, 100);
        assert.equal(all.epoch, epoch);
        assert.equal(all.offset, 10);
        assert.equal(all.firstOffset, 1);
        assert.deepEqual(offsets(all.messages), range(1, 10));
        for (const m of all.messages) {
          assert.equal(m.channel, channel);
          assert.equal(m.epoch, epoch);
          assert.equal(m.data, data(m.offset));
          assert.ok(m.ts > 0);
        }
        assert.deepEqual(offsets((await engine.read(channel, 3, 4)).messages), [4, 5, 6, 7]);
        assert.deepEqual(offsets((await engine.read(channel, 8, 100)).messages), [9, 10]);
        assert.deepEqual(offsets((await engine.read(channel, 10, 100)).messages), []);
        assert.deepEqual(offsets((await engine.read(channel, 50, 100)).messages), []);
        assert.deepEqual(offsets((await engine.read(channel, 0, 1)).messages), [1]);
        const page = await engine.read(channel, 5, 2);
        assert.equal(page.offset, 10, 'the position is current even when the page stops early');
        assert.equal(page.firstOffset, 1);
      });

      test('large history is read in pages: each read returns at most `limit`, and paging through returns every message once', async (t) => {
        // A catch-up reads a few large messages at a time (the hub sizes its pages by bytes), never the whole history.
        const engine = await open(t);
        const channel = stem();
        const pad = 'x'.repeat(60 * 1024);
        const count = 40;
        for (let i = 1; i <= count; i++) {
          await engine.publish({ channel, data: JSON.stringify({ i, pad }), policy: POLICY });
        }
        const seen: number[] = [];
        for (let after = 0, reads = 0; after < count; reads++) {
          assert.ok(reads < count, 'paging makes progress');
          const page = await engine.read(channel, after, 3);
          assert.ok(
            page.messages.length >= 1 && page.messages.length <= 3,
            `${page.messages.length} messages`,
          );
          assert.equal(page.offset, count);
          for (const m of page.messages) assert.equal(JSON.parse(m.data).i, m.offset);
          seen.push(...offsets(page.messages));
          after = page.messages.at(-1)!.offset;
        }
        assert.deepEqual(seen, range(1, count));
      });

      test('reading an unknown channel creates it', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const read = await engine.read(channel, 0, 10);
        assert.equal(read.offset, 0);
        assert.match(read.epoch, EPOCH_RE);
        assert.equal(read.firstOffset, 1);
        assert.deepEqual(await engine.position(channel), { epoch: read.epoch, offset: 0 });
      });

      test('history is trimmed to policy.size', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const policy = { ...POLICY, size: 5 };
        for (let i = 1; i <= 12; i++) await engine.publish({ channel, data: data(i), policy });
        const read = await engine.read(channel, 0, 100);
        assert.equal(read.offset, 12);
        assert.equal(read.firstOffset, 8);
        assert.deepEqual(offsets(read.messages), range(8, 12));
        assert.deepEqual(
          read.messages.map((m) => m.data),
          range(8, 12).map((i) => data(i)),
        );
        assert.deepEqual(offsets((await engine.read(channel, 9, 100)).messages), [10, 11, 12]);
        assert.equal((await engine.read(channel, 12, 100)).firstOffset, 8);
      });

      test('messages older than policy.ttlMs are dropped; the position is kept', async (t) => {
        const engine = await open(t);
        const withSnapshot = stem();
        const withSubscriber = stem();
        // Generous enough that a loaded CI machine reads the fresh messages before they expire.
        const policy = { ...POLICY, ttlMs: 1_500 };
        const sub = await collect(engine, withSubscriber);
        const before = {
          snapshot: await engine.position(withSnapshot),
          subscriber: await engine.position(withSubscriber),
        };
        for (const channel of [withSnapshot, withSubscriber]) {
          for (let i = 1; i <= 3; i++) await engine.publish({ channel, data: data(i), policy });
        }
        await engine.setSnapshot(withSnapshot, data('state'), policy);
        assert.deepEqual(offsets((await engine.read(withSnapshot, 0, 10)).messages), [1, 2, 3]);
        await sleep(2_000);
        for (const [channel, { epoch }] of [
          [withSnapshot, before.snapshot],
          [withSubscriber, before.subscriber],
        ] as const) {
          const read = await engine.read(channel, 0, 10);
          assert.deepEqual(read.messages, [], `${channel}: expired messages are gone`);
          assert.equal(read.epoch, epoch);
          assert.equal(read.offset, 3);
          assert.equal(read.firstOffset, 4);
          const next = await engine.publish({ channel, data: data(4), policy });
          assert.equal(next.offset, 4);
          assert.equal(next.epoch, epoch);
        }
        await delivered(() => assert.deepEqual(offsets(sub.messages), [1, 2, 3, 4]));
      });
    });

    describe('snapshots', () => {
      test('a snapshot records the offset it was taken at until replaced', async (t) => {
        const engine = await open(t);
        const channel = stem();
        assert.equal(await engine.snapshot(channel), null);
        for (let i = 1; i <= 3; i++) await engine.publish({ channel, data: data(i), policy: POLICY });
        const { epoch } = await engine.position(channel);
        assert.deepEqual(await engine.setSnapshot(channel, data({ v: 3 }), POLICY), { epoch, offset: 3 });
        const snap = await engine.snapshot(channel);
        assert.ok(snap);
        assert.deepEqual(
          { epoch: snap.epoch, offset: snap.offset, data: snap.data },
          {
            epoch,
            offset: 3,
            data: data({ v: 3 }),
          },
        );
        assert.ok(snap.ts > 0);

        await engine.publish({ channel, data: data(4), policy: POLICY });
        assert.deepEqual(await engine.snapshot(channel), snap, 'publishing leaves the snapshot alone');

        await engine.publish({ channel, data: data(5), policy: POLICY });
        assert.deepEqual(await engine.setSnapshot(channel, data({ v: 5 }), POLICY), { epoch, offset: 5 });
        const replaced = await engine.snapshot(channel);
        assert.equal(replaced?.offset, 5);
        assert.equal(replaced?.data, data({ v: 5 }));
        assert.equal(replaced?.epoch, epoch);
      });

      test('a snapshot of an unknown channel is taken at offset 0', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const position = await engine.setSnapshot(channel, data('empty'), POLICY);
        assert.equal(position.offset, 0);
        assert.match(position.epoch, EPOCH_RE);
        assert.deepEqual(await engine.position(channel), position);
        assert.equal((await engine.snapshot(channel))?.data, data('empty'));
      });

      peerTest('a snapshot is shared between engines', async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const channel = stem();
        await a.publish({ channel, data: data(1), policy: POLICY });
        await a.setSnapshot(channel, data('s'), POLICY);
        const snap = await b.snapshot(channel);
        assert.equal(snap?.offset, 1);
        assert.equal(snap?.data, data('s'));
      });
    });

    describe('subscribe', () => {
      test('a channel subscription receives its messages in order', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const sub = await collect(engine, channel);
        const { epoch } = await engine.position(channel);
        for (let i = 1; i <= 20; i++) await engine.publish({ channel, data: data(i), policy: POLICY });
        await delivered(() => assert.deepEqual(offsets(sub.messages), range(1, 20)));
        for (const m of sub.messages) {
          assert.equal(m.channel, channel);
          assert.equal(m.epoch, epoch);
          assert.equal(m.data, data(m.offset));
        }
      });

      test('concurrent publishes arrive in offset order', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const sub = await collect(engine, channel);
        await Promise.all(
          range(1, 100).map((i) => engine.publish({ channel, data: data(i), policy: POLICY })),
        );
        await delivered(() => assert.deepEqual(offsets(sub.messages), range(1, 100)));
      });

      test('a plain name receives only its own channel', async (t) => {
        const engine = await open(t);
        const base = stem();
        const sub = await collect(engine, `${base}.a`);
        const marker = await collect(engine, `${base}.a`);
        for (const channel of [`${base}.b`, `${base}.a.b`, base, `${base}.a`]) {
          await engine.publish({ channel, data: data(channel), policy: POLICY });
        }
        await delivered(() => assert.equal(marker.messages.length, 1));
        await settle();
        assert.deepEqual(
          sub.messages.map((m) => m.channel),
          [`${base}.a`],
        );
      });

      test('`*` matches one segment, `>` one or more', async (t) => {
        const engine = await open(t);
        const base = stem();
        const star = await collect(engine, `${base}.*`);
        const tail = await collect(engine, `${base}.>`);
        const channels = [`${base}.a`, `${base}.a.b`, `${base}.b`, base, `${base}x.a`, `${base}.b.c.d`];
        for (const channel of channels)
          await engine.publish({ channel, data: data(channel), policy: POLICY });
        const names = (sub: Collector, pattern: string) => {
          const matches = patternMatcher(pattern);
          const found = sub.messages.map((m) => m.channel).filter((c) => !setup.loosePatterns || matches(c));
          // Each channel here gets one message: only the order across channels can differ.
          return setup.unorderedAcrossChannels
            ? found.sort((x, y) => channels.indexOf(x) - channels.indexOf(y))
            : found;
        };
        await delivered(() => {
          assert.deepEqual(names(star, `${base}.*`), [`${base}.a`, `${base}.b`]);
          assert.deepEqual(names(tail, `${base}.>`), [
            `${base}.a`,
            `${base}.a.b`,
            `${base}.b`,
            `${base}.b.c.d`,
          ]);
        });
        await settle();
        assert.deepEqual(names(star, `${base}.*`), [`${base}.a`, `${base}.b`]);
        assert.equal(names(tail, `${base}.>`).length, 4);
        for (const m of [...star.messages, ...tail.messages]) {
          assert.equal(m.offset, 1);
          assert.equal(m.data, data(m.channel));
        }
      });

      test('the stream is live once subscribe resolves', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const exact = await collect(engine, channel);
        const pattern = await collect(engine, `${channel}.>`);
        await engine.publish({ channel, data: data(1), policy: POLICY });
        await engine.publish({ channel: `${channel}.x`, data: data(1), policy: POLICY });
        await delivered(() => {
          assert.equal(exact.messages.length, 1);
          assert.equal(pattern.messages.filter((m) => m.channel === `${channel}.x`).length, 1);
        });
      });

      test('unsubscribing stops delivery to that listener only', async (t) => {
        const engine = await open(t);
        const base = stem();
        const channel = `${base}.a`;
        const exact = await collect(engine, channel);
        const pattern = await collect(engine, `${base}.*`);
        const marker = await collect(engine, channel);
        await engine.publish({ channel, data: data(1), policy: POLICY });
        await delivered(() => {
          assert.equal(exact.messages.length, 1);
          assert.equal(pattern.messages.length, 1);
        });
        exact.stop();
        pattern.stop();
        exact.stop(); // a second call is harmless
        await engine.publish({ channel, data: data(2), policy: POLICY });
        await delivered(() => assert.equal(marker.messages.length, 2));
        await settle();
        assert.deepEqual(offsets(exact.messages), [1]);
        assert.deepEqual(offsets(pattern.messages), [1]);
      });

      peerTest('messages published on a peer reach listeners here', async (t) => {
        const a = await open(t);
        const b = await openPeer(t);
        const base = stem();
        const channel = `${base}.a`;
        const exact = await collect(a, channel);
        const pattern = await collect(a, `${base}.*`);
        for (let i = 1; i <= 5; i++) await b.publish({ channel, data: data(i), policy: POLICY });
        await eventually(() => {
          assert.deepEqual(offsets(exact.messages), range(1, 5));
          assert.deepEqual(offsets(pattern.messages.filter((m) => m.channel === channel)), range(1, 5));
        }, timeoutMs);
        const { epoch } = await a.position(channel);
        assert.ok(exact.messages.every((m) => m.epoch === epoch && m.data === data(m.offset)));
      });
    });

    describe('channels', () => {
      test('lists the channels it holds a position for that match', async (t) => {
        const engine = await open(t);
        const base = stem();
        for (const channel of [`${base}.a`, `${base}.b`, `${base}.a.b`]) {
          await engine.publish({ channel, data: data(1), policy: POLICY });
        }
        await engine.position(`${base}.c`);
        const sorted = async (pattern: string) => (await engine.channels(pattern)).sort();
        assert.deepEqual(await sorted(`${base}.*`), [`${base}.a`, `${base}.b`, `${base}.c`]);
        assert.deepEqual(await sorted(`${base}.>`), [`${base}.a`, `${base}.a.b`, `${base}.b`, `${base}.c`]);
        assert.deepEqual(await sorted(`${base}.a`), [`${base}.a`]);
        assert.deepEqual(await sorted(`${base}.zzz`), []);
      });
    });

    describe('message fields', () => {
      test('id, expiresAt and origin round-trip through read and the stream', async (t) => {
        const engine = await open(t);
        const channel = stem();
        const sub = await collect(engine, channel);
        const expiresAt = Date.now() + 3_600_000;
        const payload = data({ text: 'héllo "world"', n: [1, 2.5, null], nested: { ok: true } });
        await engine.publish({
          channel,
          data: payload,
          id: 'the-id',
          expiresAt,
          origin: 'scope-1',
          policy: POLICY,
        });
        await engine.publish({ channel, data: data('plain'), policy: POLICY });
        const read = await engine.read(channel, 0, 10);
        await delivered(() => assert.equal(sub.messages.length, 2));
        for (const messages of [read.messages, sub.messages]) {
          const [full, plain] = messages;
          assert.ok(full && plain);
          assert.equal(full.data, payload);
          assert.equal(full.id, 'the-id');
          assert.equal(full.expiresAt, expiresAt);
          assert.equal(full.origin, 'scope-1');
          assert.equal(plain.data, data('plain'));
          assert.equal(plain.id, undefined);
          assert.equal(plain.expiresAt, undefined);
          assert.equal(plain.origin, undefined);
          assert.equal(full.ts, (await engine.read(channel, 0, 1)).messages[0]?.ts);
        }
      });
    });

    describe('close', () => {
      test('calls after close reject with CLOSED', async () => {
        const engine = await setup.create();
        await engine.ready?.();
        const channel = stem();
        await engine.publish({ channel, data: data(1), policy: POLICY });
        await engine.close();
        await rejectsWith(engine.publish({ channel, data: data(2), policy: POLICY }), ErrorCode.closed);
        await rejectsWith(engine.position(channel), ErrorCode.closed);
        await rejectsWith(engine.read(channel, 0, 10), ErrorCode.closed);
        await rejectsWith(engine.setSnapshot(channel, data(1), POLICY), ErrorCode.closed);
        await rejectsWith(engine.snapshot(channel), ErrorCode.closed);
        await rejectsWith(engine.subscribe(channel, { message() {} }), ErrorCode.closed);
        await rejectsWith(engine.channels(channel), ErrorCode.closed);
      });
    });

    describe('model', () => {
      test('random command sequences agree with the reference model', async (t) => {
        const engine = await open(t);
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 3 }),
            // 'max' so long sequences (deep histories, short pages) are as likely as short ones.
            fc.array(command, { minLength: 1, maxLength: 50, size: 'max' }),
            (n, commands) => runAgainstModel(engine, stem(), n, commands, asyncDelivery ? timeoutMs : 0),
          ),
          { numRuns: setup.numRuns ?? 100, includeErrorInReport: true },
        );
      });
    });
  });
}

// The property test: commands, and running them against an engine and the model side by side.

type IfOffset = 'none' | 'current' | 'behind' | 'ahead';
type Command =
  | { kind: 'publish'; ch: number; id: string | undefined; ifOffset: IfOffset; value: number }
  | { kind: 'setSnapshot'; ch: number; value: number }
  | { kind: 'snapshot'; ch: number }
  /** Reads after the current offset minus `back` (negative: past the end). */
  | { kind: 'read'; ch: number; back: number; limit: number }
  | { kind: 'position'; ch: number };

const ch = fc.integer({ min: 0, max: 2 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      ch,
      id: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
      ifOffset: fc.constantFrom<IfOffset>('none', 'none', 'current', 'behind', 'ahead'),
      value: fc.integer(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setSnapshot' as const), ch, value: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), ch }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      ch,
      back: fc.integer({ min: -2, max: 15 }),
      limit: fc.integer({ min: 1, max: 10 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('position' as const), ch }) },
);

function ifOffsetFor(mode: IfOffset, current: number): number | undefined {
  switch (mode) {
    case 'none':
      return undefined;
    case 'current':
      return current;
    case 'behind':
      return current > 0 ? current - 1 : current + 2;
    case 'ahead':
      return current + 1;
  }
}

function project(messages: readonly (ModelMessage | EngineMessage)[]) {
  return messages.map((m) => ({ offset: m.offset, data: m.data, id: m.id }));
}

async function runAgainstModel(
  engine: Engine,
  base: string,
  n: number,
  commands: readonly Command[],
  deliveryTimeoutMs: number,
): Promise<void> {
  const names = range(0, n - 1).map((i) => `${base}.c${i}`);
  const model = new EngineModel();
  const epochs = new Map<string, string>();
  const sameEpoch = (channel: string, epoch: string, step: string) => {
    const known = epochs.get(channel);
    if (known === undefined) epochs.set(channel, epoch);
    else assert.equal(epoch, known, `${step}: the epoch changed`);
  };
  const received = new Map<string, EngineMessage[]>(names.map((c) => [c, []]));
  const stops = await Promise.all(
    names.map((c) => engine.subscribe(c, { message: (m) => received.get(m.channel)?.push(m) })),
  );
  try {
    for (const [i, cmd] of commands.entries()) {
      const channel = names[cmd.ch % n] as string;
      const step = `step ${i} ${JSON.stringify(cmd)}`;
      switch (cmd.kind) {
        case 'publish': {
          const ifOffset = ifOffsetFor(cmd.ifOffset, model.position(channel));
          const text = data(cmd.value);
          const expected = model.publish(channel, text, cmd.id, ifOffset);
          const request = { channel, data: text, policy: POLICY, id: cmd.id, ifOffset };
          if (expected.kind === 'conflict') {
            const error = await rejectsWith(engine.publish(request), ErrorCode.conflict);
            assert.equal(error.details?.offset, expected.offset, step);
            sameEpoch(channel, String(error.details?.epoch), step);
          } else {
            const result = await engine.publish(request);
            assert.equal(result.offset, expected.offset, step);
            assert.equal(result.duplicate, expected.kind === 'duplicate', step);
            sameEpoch(channel, result.epoch, step);
          }
          break;
        }
        case 'setSnapshot': {
          const position = await engine.setSnapshot(channel, data(cmd.value), POLICY);
          assert.equal(position.offset, model.setSnapshot(channel, data(cmd.value)), step);
          sameEpoch(channel, position.epoch, step);
          break;
        }
        case 'snapshot': {
          const snap = await engine.snapshot(channel);
          const expected = model.snapshot(channel);
          assert.deepEqual(snap && { offset: snap.offset, data: snap.data }, expected, step);
          if (snap) sameEpoch(channel, snap.epoch, step);
          break;
        }
        case 'read': {
          const after = Math.max(0, model.position(channel) - cmd.back);
          const read = await engine.read(channel, after, cmd.limit);
          const expected = model.read(channel, after, cmd.limit);
          assert.equal(read.offset, expected.offset, step);
          assert.equal(read.firstOffset, expected.firstOffset, step);
          assert.deepEqual(project(read.messages), project(expected.messages), step);
          sameEpoch(channel, read.epoch, step);
          for (const m of read.messages) assert.equal(m.epoch, read.epoch, step);
          break;
        }
        case 'position': {
          const position = await engine.position(channel);
          assert.equal(position.offset, model.position(channel), step);
          sameEpoch(channel, position.epoch, step);
          break;
        }
      }
    }
    const check = () => {
      for (const channel of names) {
        assert.deepEqual(
          project(received.get(channel) ?? []),
          project(model.delivered(channel)),
          `${channel}: a listener receives every stored publish once, in order`,
        );
      }
    };
    if (deliveryTimeoutMs > 0) await eventually(check, deliveryTimeoutMs);
    else check();
  } finally {
    for (const stop of stops) stop();
  }
}
