import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTidingsError } from '@tidings/protocol';
import {
  createHub,
  createTidingsServer,
  type Engine,
  type EnginePresence,
  ErrorCode,
  type Hub,
  MemoryEngine,
  type PresenceEvent,
} from '@tidings/server';

type T = { after(fn: () => unknown): void };

function hubFor(t: T, options: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub({ onError: () => {}, ...options });
  t.after(() => hub.close());
  return hub;
}

function code(expected: ErrorCode) {
  return (error: unknown) => {
    assert.ok(isTidingsError(error), `expected a TidingsError, got ${String(error)}`);
    assert.equal(error.code, expected);
    return true;
  };
}

/** A memory engine with its presence hidden: an engine that cannot track presence. */
function withoutPresence(): Engine {
  const inner = new MemoryEngine();
  return {
    publish: (r) => inner.publish(r),
    position: (c) => inner.position(c),
    read: (c, a, l) => inner.read(c, a, l),
    setSnapshot: (c, d, p) => inner.setSnapshot(c, d, p),
    snapshot: (c) => inner.snapshot(c),
    subscribe: (c, l) => inner.subscribe(c, l),
    channels: (p) => inner.channels(p),
    close: () => inner.close(),
  };
}

describe('hub presence', () => {
  test('join, presence and leave', async (t) => {
    const hub = hubFor(t);
    await hub.join('room', { client: 'c1', user: 'alice', info: { name: 'Alice' } });
    await hub.join('room', { client: 'c2', user: 'bob' });
    const members = await hub.presence('room');
    assert.deepEqual(
      members.sort((a, b) => a.client.localeCompare(b.client)),
      [
        { client: 'c1', user: 'alice', info: { name: 'Alice' } },
        { client: 'c2', user: 'bob' },
      ],
    );
    await hub.leave('room', 'c1');
    assert.deepEqual(await hub.presence('room'), [{ client: 'c2', user: 'bob' }]);
  });

  test('members are checked and made plain JSON', async (t) => {
    const hub = hubFor(t, { maxMessageBytes: 1_000 });
    await assert.rejects(hub.join('room', { client: '', user: 'a' }), code(ErrorCode.invalidField));
    await assert.rejects(
      hub.join('room', { client: 'c', user: undefined as unknown as string }),
      code(ErrorCode.invalidField),
    );
    await assert.rejects(
      hub.join('room', { client: 'c', user: 'a', info: [] as unknown as Record<string, unknown> }),
      code(ErrorCode.invalidField),
    );
    await assert.rejects(
      hub.join('room', { client: 'c', user: 'a', info: { n: 1n } }),
      code(ErrorCode.notSerializable),
    );
    await assert.rejects(
      hub.join('room', { client: 'c', user: 'a', info: { text: 'x'.repeat(2_000) } }),
      code(ErrorCode.messageTooLarge),
    );
    await assert.rejects(hub.join('room.*', { client: 'c', user: 'a' }), code(ErrorCode.invalidChannel));
    await assert.rejects(hub.presence('room.>'), code(ErrorCode.invalidChannel));
    await hub.join('room', { client: 'c', user: 'a', info: { when: new Date(0), gone: undefined } });
    assert.deepEqual(await hub.presence('room'), [
      { client: 'c', user: 'a', info: { when: '1970-01-01T00:00:00.000Z' } },
    ]);
  });

  test('onPresence hears joins and leaves of the channel once ready, and nothing after unsubscribe', async (t) => {
    const hub = hubFor(t);
    const events: PresenceEvent[] = [];
    const sub = hub.subscribe('room', () => {}, { onPresence: (event) => events.push(event) });
    await sub.ready;
    await hub.join('room', { client: 'c1', user: 'alice' });
    await hub.join('other', { client: 'c2', user: 'bob' });
    await hub.leave('room', 'c1');
    assert.deepEqual(events, [
      { type: 'join', channel: 'room', member: { client: 'c1', user: 'alice' } },
      { type: 'leave', channel: 'room', member: { client: 'c1', user: 'alice' } },
    ]);
    sub.unsubscribe();
    await hub.join('room', { client: 'c3', user: 'carol' });
    assert.equal(events.length, 2);
  });

  test('subscriptions share one engine stream; the last to go ends it', async (t) => {
    const engine = new MemoryEngine();
    let streams = 0;
    const inner = engine.presence;
    const counted: EnginePresence = {
      join: (channel, member) => inner.join(channel, member),
      leave: (channel, client) => inner.leave(channel, client),
      members: (channel) => inner.members(channel),
      subscribe: async (target, listener) => {
        streams++;
        const stop = await inner.subscribe(target, listener);
        return () => {
          streams--;
          stop();
        };
      },
    };
    // Shadows the engine's own `presence` getter.
    Object.defineProperty(engine, 'presence', { value: counted });
    const hub = hubFor(t, { engine });
    const heard: string[] = [];
    const a = hub.subscribe('room', () => {}, { onPresence: (e) => heard.push(`a ${e.type}`) });
    const b = hub.subscribe('room', () => {}, { onPresence: (e) => heard.push(`b ${e.type}`) });
    await Promise.all([a.ready, b.ready]);
    assert.equal(streams, 1);
    await hub.join('room', { client: 'c1', user: 'alice' });
    assert.deepEqual(heard.sort(), ['a join', 'b join']);
    a.unsubscribe();
    assert.equal(streams, 1);
    b.unsubscribe();
    assert.equal(streams, 0);
  });

  test('a pattern subscription hears every matching channel', async (t) => {
    const hub = hubFor(t);
    const events: string[] = [];
    const sub = hub.subscribe('room.*', () => {}, {
      onPresence: (e) => events.push(`${e.type} ${e.channel} ${e.member.user}`),
    });
    await sub.ready;
    await hub.join('room.a', { client: 'c1', user: 'alice' });
    await hub.join('hall', { client: 'c2', user: 'bob' });
    await hub.join('room.b', { client: 'c3', user: 'carol' });
    assert.deepEqual(events, ['join room.a alice', 'join room.b carol']);
  });

  test('an onPresence that throws is reported to onError; delivery goes on', async (t) => {
    const errors: unknown[] = [];
    const hub = hubFor(t, { onError: (error) => errors.push(error) });
    const events: PresenceEvent[] = [];
    const bad = hub.subscribe('room', () => {}, {
      onPresence: () => {
        throw new Error('boom');
      },
    });
    const good = hub.subscribe('room', () => {}, { onPresence: (event) => events.push(event) });
    await Promise.all([bad.ready, good.ready]);
    await hub.join('room', { client: 'c1', user: 'alice' });
    assert.equal(events.length, 1);
    assert.equal((errors[0] as Error).message, 'boom');
  });

  test('without presence in the engine: UNSUPPORTED from presence, join, leave and onPresence, and the server refuses the option', async (t) => {
    const hub = hubFor(t, { engine: withoutPresence() });
    await assert.rejects(hub.presence('room'), code(ErrorCode.unsupported));
    await assert.rejects(hub.join('room', { client: 'c', user: 'a' }), code(ErrorCode.unsupported));
    await assert.rejects(hub.leave('room', 'c'), code(ErrorCode.unsupported));
    assert.throws(
      () => hub.subscribe('room', () => {}, { onPresence: () => {} }),
      code(ErrorCode.unsupported),
    );
    assert.equal(hub.subscriberCount('room'), 0, 'the refused subscription left nothing behind');
    assert.throws(() => createTidingsServer({ hub, presence: ['room'] }), code(ErrorCode.unsupported));
    // Without the option the server starts: presence is simply not offered.
    await createTidingsServer({ hub }).close();
  });

  test('the server checks its presence patterns', async (t) => {
    const hub = hubFor(t);
    assert.throws(
      () => createTidingsServer({ hub, presence: ['bad channel'] }),
      code(ErrorCode.invalidChannel),
    );
    await createTidingsServer({ hub, presence: ['room', 'game.*', 'team.>'] }).close();
  });

  test('a closed hub refuses presence calls with CLOSED', async () => {
    const hub = createHub();
    await hub.close();
    await assert.rejects(hub.presence('room'), code(ErrorCode.closed));
    await assert.rejects(hub.join('room', { client: 'c', user: 'a' }), code(ErrorCode.closed));
  });
});
