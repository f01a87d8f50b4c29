import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type {
  Engine,
  EngineMessage,
  PublishResult,
  ReadResult,
  Snapshot,
  StreamListener,
} from '@tidings/engine';
import type { Position } from '@tidings/protocol';
import fc from 'fast-check';
import { createHub, type Message, type ResetNotice } from '../src/index.js';

/**
 * "Can this position still be served, else reset to the snapshot" is decided in one place (resume.ts).
 * These properties hold every path that asks to the same answer, on channel states a real engine only
 * reaches by chance (trimmed history, a new epoch, a snapshot older than the retained history or from
 * an earlier epoch, a position ahead of the channel): `hub.history`, a subscription starting from a
 * position, and a live subscription recovering after its stream was interrupted (a broker reconnect).
 */

const CHANNEL = 'resume.c';

/** A channel frozen in one state: what the engine holds, nothing published while a test reads it. */
interface State {
  epoch: string;
  offset: number;
  /** Offsets firstOffset..offset are retained (none when firstOffset = offset + 1). */
  firstOffset: number;
  snapshot: Position | null;
}

/** An engine whose channel is whatever state the test sets: no publishes, only reads and the stream. */
class StateEngine implements Engine {
  readonly listeners = new Set<StreamListener>();
  constructor(public state: State) {}

  async publish(): Promise<PublishResult> {
    throw new Error('not in this test');
  }
  async position(): Promise<Position> {
    return { epoch: this.state.epoch, offset: this.state.offset };
  }
  async read(channel: string, after: number, limit: number): Promise<ReadResult> {
    const { epoch, offset, firstOffset } = this.state;
    const messages: EngineMessage[] = [];
    for (let o = Math.max(after + 1, firstOffset); o <= offset && messages.length < limit; o++) {
      messages.push({ channel, epoch, offset: o, ts: 0, data: JSON.stringify(o) });
    }
    return { epoch, offset, firstOffset, messages };
  }
  async setSnapshot(): Promise<Position> {
    throw new Error('not in this test');
  }
  async snapshot(): Promise<Snapshot | null> {
    const s = this.state.snapshot;
    return s === null ? null : { ...s, ts: 0, data: JSON.stringify(`state@${s.offset}`) };
  }
  async subscribe(_channel: string, listener: StreamListener): Promise<() => void> {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async channels(): Promise<string[]> {
    return [CHANNEL];
  }
  async close(): Promise<void> {}
}

/** What every path must deliver after `since`, worked out here independently of the server. */
interface Expected {
  reset: boolean;
  /** The reset notice's offset (the snapshot's, or just before the oldest retained message). */
  resetOffset?: number;
  snapshot?: number;
  offsets: number[];
}

function expected(state: State, since: Position): Expected {
  const { epoch, offset, firstOffset } = state;
  const range = (from: number) => Array.from({ length: Math.max(0, offset - from + 1) }, (_, i) => from + i);
  if (since.epoch === epoch && since.offset <= offset && since.offset >= firstOffset - 1) {
    return { reset: false, offsets: range(since.offset + 1) };
  }
  const snap = state.snapshot !== null && state.snapshot.epoch === epoch ? state.snapshot.offset : undefined;
  if (snap === undefined) return { reset: true, resetOffset: firstOffset - 1, offsets: range(firstOffset) };
  return { reset: true, resetOffset: snap, snapshot: snap, offsets: range(Math.max(snap + 1, firstOffset)) };
}

const EPOCHS = ['E1', 'E0'];
const case_ = fc
  .record({
    offset: fc.integer({ min: 0, max: 12 }),
    retained: fc.integer({ min: 0, max: 13 }),
    snapshot: fc.option(
      fc.record({ epoch: fc.constantFrom(...EPOCHS), offset: fc.integer({ min: 0, max: 14 }) }),
      { nil: null },
    ),
    since: fc.record({ epoch: fc.constantFrom(...EPOCHS), offset: fc.integer({ min: 0, max: 15 }) }),
  })
  .map(({ offset, retained, snapshot, since }) => {
    const state: State = {
      epoch: 'E1',
      offset,
      firstOffset: offset + 1 - Math.min(retained, offset),
      // A snapshot of this epoch is never ahead of the channel.
      snapshot: snapshot !== null && snapshot.epoch === 'E1' && snapshot.offset > offset ? null : snapshot,
    };
    return { state, since };
  });

/** What a subscription delivered, in the terms of `Expected`. */
function recorder() {
  const seen: { reset: boolean; resetOffset?: number; snapshot?: number; offsets: number[] } = {
    reset: false,
    offsets: [],
  };
  const starts: Position[] = [];
  return {
    seen,
    starts,
    handler: (m: Message) => {
      if (m.snapshot) seen.snapshot = m.offset;
      else seen.offsets.push(m.offset);
    },
    onStart: (p: ResetNotice) => {
      starts.push({ epoch: p.epoch, offset: p.offset });
    },
    onReset: (p: ResetNotice) => {
      assert.equal(seen.reset, false, 'one reset');
      seen.reset = true;
      seen.resetOffset = p.offset;
    },
  };
}

/** Without the keys left undefined, as plain objects: what strict deep equality should compare. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value));

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('the resume decision is the same on every path', () => {
  test('hub.history(since)', async () => {
    await fc.assert(
      fc.asyncProperty(case_, async ({ state, since }) => {
        const hub = createHub({ engine: new StateEngine(state) });
        try {
          const result = await hub.history(CHANNEL, { since, limit: 100 });
          const want = expected(state, since);
          assert.equal(result.reset, want.reset);
          assert.equal(result.snapshot?.offset, want.snapshot);
          assert.deepEqual(
            result.messages.map((m) => m.offset),
            want.offsets,
          );
        } finally {
          await hub.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  test('subscribe({ since }): a start at the position, then the same answer', async () => {
    await fc.assert(
      fc.asyncProperty(case_, async ({ state, since }) => {
        const hub = createHub({ engine: new StateEngine(state) });
        try {
          const r = recorder();
          await hub.subscribe(CHANNEL, r.handler, { since, onStart: r.onStart, onReset: r.onReset }).ready;
          await flush();
          const want = expected(state, since);
          assert.deepEqual(r.starts, [plain(since)]);
          assert.deepEqual(plain(r.seen), plain(want.reset ? want : { reset: false, offsets: want.offsets }));
        } finally {
          await hub.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a live subscription whose stream was interrupted (resync) recovers with the same answer', async () => {
    await fc.assert(
      fc.asyncProperty(case_, async ({ state, since }) => {
        // Live at `since` first: the channel stood exactly there, nothing retained.
        const engine = new StateEngine({
          epoch: since.epoch,
          offset: since.offset,
          firstOffset: since.offset + 1,
          snapshot: null,
        });
        const hub = createHub({ engine });
        try {
          const r = recorder();
          await hub.subscribe(CHANNEL, r.handler, { onStart: r.onStart, onReset: r.onReset }).ready;
          assert.deepEqual(r.starts, [plain(since)]);
          engine.state = state;
          for (const listener of engine.listeners) listener.resync?.();
          await flush();
          const want = expected(state, since);
          assert.deepEqual(plain(r.seen), plain(want.reset ? want : { reset: false, offsets: want.offsets }));
        } finally {
          await hub.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a subscription from the snapshot starts where a reset would put it', async () => {
    await fc.assert(
      fc.asyncProperty(case_, async ({ state }) => {
        const hub = createHub({ engine: new StateEngine(state) });
        try {
          const r = recorder();
          const ready = hub.subscribe(CHANNEL, r.handler, {
            since: 'snapshot',
            onStart: r.onStart,
            onReset: r.onReset,
          }).ready;
          await ready;
          await flush();
          // From an epoch no channel has, every position resets: the reset is the snapshot start.
          const want = expected(state, { epoch: 'none', offset: 0 });
          assert.deepEqual(r.starts, [{ epoch: state.epoch, offset: want.resetOffset }]);
          assert.deepEqual(
            plain(r.seen),
            plain({ reset: false, snapshot: want.snapshot, offsets: want.offsets }),
          );
        } finally {
          await hub.close();
        }
      }),
      { numRuns: 200 },
    );
  });
});
