// Position tracking: what a subscription delivers from the frames it is given, whatever duplicates
// a reconnect or an overlapping subscription brings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageFrame, Position } from '@tidings/protocol';
import fc from 'fast-check';
import { Persistence } from '../src/persistence.js';
import { type Message, Subscription } from '../src/subscription.js';

const owner = { unsubscribe: () => {}, presence: async () => [] };

function message(offset: number, epoch = 'E1', channel = 'chat'): MessageFrame {
  return { type: 'message', channel, epoch, offset, ts: 1_000 + offset, data: `m${offset}` };
}

function subscription(
  channel = 'chat',
  since: 'now' | 'snapshot' | Position = 'now',
  persistence?: Persistence,
) {
  const messages: Message[] = [];
  const sub = new Subscription(owner, channel, (m: Message) => messages.push(m), since, persistence);
  return { sub, messages, offsets: () => messages.map((m) => m.offset) };
}

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
}

test('subscribed sets the position and the state, once; messages move it', () => {
  const { sub, messages } = subscription();
  const events: unknown[] = [];
  sub.on('subscribed', (position) => events.push(position));
  assert.equal(sub.state, 'subscribing');
  assert.deepEqual(sub.spec(), { channel: 'chat', since: 'now' });
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 4 });
  assert.equal(sub.state, 'subscribed');
  assert.deepEqual(sub.position, { epoch: 'E1', offset: 4 });
  sub.receive(message(5));
  assert.deepEqual(messages, [
    { channel: 'chat', data: 'm5', epoch: 'E1', offset: 5, ts: 1_005, snapshot: false },
  ]);
  assert.deepEqual(sub.spec(), { channel: 'chat', since: { epoch: 'E1', offset: 5 } });
  // After a reconnect: subscribing again, from the position; no second event... until it is on again.
  sub.interrupt();
  assert.equal(sub.state, 'subscribing');
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 5 });
  assert.deepEqual(events, [
    { epoch: 'E1', offset: 4 },
    { epoch: 'E1', offset: 5 },
  ]);
});

test('drops a message at or before the position of the same epoch', () => {
  const { sub, offsets } = subscription();
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 0 });
  for (const offset of [1, 2, 2, 1, 3, 3, 4]) sub.receive(message(offset));
  assert.deepEqual(offsets(), [1, 2, 3, 4]);
  // A `subscribed` behind the position (a resume from an older cursor) does not move it back.
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 2 });
  assert.deepEqual(sub.position, { epoch: 'E1', offset: 4 });
});

test('a reset: the event, then the snapshot at its offset, then the messages after it', () => {
  const { sub, messages } = subscription('chat', { epoch: 'Old', offset: 40 });
  const order: unknown[] = [];
  sub.on('reset', (position) => order.push(['reset', position]));
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'Old', offset: 40 });
  sub.receive({ type: 'reset', channel: 'chat', epoch: 'New', offset: 7 });
  assert.deepEqual(sub.position, { epoch: 'New', offset: 7 });
  sub.receive({ type: 'snapshot', channel: 'chat', epoch: 'New', offset: 7, ts: 1, data: { state: 1 } });
  sub.receive(message(7, 'New')); // the snapshot covers it
  sub.receive(message(8, 'New'));
  assert.deepEqual(order, [['reset', { epoch: 'New', offset: 7 }]]);
  assert.deepEqual(
    messages.map((m) => [m.offset, m.snapshot]),
    [
      [7, true],
      [8, false],
    ],
  );
  // An older snapshot is no news.
  sub.receive({ type: 'snapshot', channel: 'chat', epoch: 'New', offset: 6, ts: 1, data: {} });
  assert.equal(messages.length, 2);
});

test('a pattern subscription keeps one position per matching channel', () => {
  const { sub, messages } = subscription('room.*');
  sub.receive({ type: 'subscribed', channel: 'room.*' });
  assert.equal(sub.state, 'subscribed');
  assert.equal(sub.position, undefined);
  for (const frame of [message(1, 'E', 'room.a'), message(1, 'E', 'room.b'), message(1, 'E', 'room.a')]) {
    sub.receive(frame);
  }
  assert.deepEqual(
    messages.map((m) => [m.channel, m.offset]),
    [
      ['room.a', 1],
      ['room.b', 1],
    ],
  );
});

test('with persistence, a new subscription starts from the saved position; unsubscribing forgets it', () => {
  const storage = memoryStorage();
  const persistence = new Persistence(storage, 'tidings:test');
  const first = subscription('chat', 'snapshot', persistence);
  first.sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 2 });
  first.sub.receive(message(3));
  assert.equal(storage.items.get('tidings:test#chat'), 'E1:3');
  // The page reloads: the saved position wins over `since`.
  const second = subscription('chat', 'snapshot', persistence);
  assert.deepEqual(second.sub.spec(), { channel: 'chat', since: { epoch: 'E1', offset: 3 } });
  second.sub.end(false);
  assert.equal(storage.items.get('tidings:test#chat'), 'E1:3');
  second.sub.end(true);
  assert.equal(storage.items.has('tidings:test#chat'), false);
  // An explicit position wins over the saved one; garbage in storage is ignored.
  storage.setItem('tidings:test#chat', 'not a position');
  assert.deepEqual(subscription('chat', 'now', persistence).sub.spec().since, 'now');
  assert.deepEqual(subscription('chat', { epoch: 'E9', offset: 1 }, persistence).sub.position, {
    epoch: 'E9',
    offset: 1,
  });
});

test('storage that throws only loses persistence', () => {
  const broken = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => {
      throw new Error('SecurityError');
    },
  };
  const { sub, offsets } = subscription('chat', 'now', new Persistence(broken, 'p'));
  sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 0 });
  sub.receive(message(1));
  sub.end(true);
  assert.deepEqual(offsets(), [1]);
});

test('property: resent runs of messages (reconnects, overlaps) are delivered once each, in order', () => {
  // Each run resumes somewhere at or before the last offset sent, as a replay after a reconnect would.
  const runs = fc.array(fc.tuple(fc.nat(5), fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(runs, (spec) => {
      const { sub, offsets } = subscription();
      sub.receive({ type: 'subscribed', channel: 'chat', epoch: 'E1', offset: 0 });
      let sent = 0;
      for (const [back, length] of spec) {
        const from = Math.max(1, sent + 1 - back);
        for (let offset = from; offset < from + length; offset++) sub.receive(message(offset));
        sent = Math.max(sent, from + length - 1);
      }
      assert.deepEqual(
        offsets(),
        Array.from({ length: sent }, (_, i) => i + 1),
      );
      assert.deepEqual(sub.position, { epoch: 'E1', offset: sent });
    }),
  );
});
