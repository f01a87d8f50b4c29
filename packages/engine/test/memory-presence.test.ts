import assert from 'node:assert/strict';
import { test } from 'node:test';
import { presenceContract } from '@tidings/engine/testing';
import { MemoryEngine, type PresenceEvent } from '../src/index.js';

presenceContract('memory', { create: async () => new MemoryEngine() });

test('memory presence: events arrive inside the call; a throwing listener is reported and the others still hear', async (t) => {
  const errors: unknown[] = [];
  const engine = new MemoryEngine({ onListenerError: (error) => errors.push(error) });
  t.after(() => engine.close());
  const presence = engine.presence;
  const heard: PresenceEvent[] = [];
  await presence.subscribe('room', () => {
    throw new Error('boom');
  });
  await presence.subscribe('room', (event) => heard.push(event));
  const joined = presence.join('room', { client: 'c1', user: 'alice' });
  assert.equal(heard.length, 1, 'delivered before join() returned');
  await joined;
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, 'boom');
});

test("memory presence: members are frozen copies, never the caller's objects", async (t) => {
  const engine = new MemoryEngine();
  t.after(() => engine.close());
  const info = { name: 'Alice' };
  await engine.presence.join('room', { client: 'c1', user: 'alice', info });
  info.name = 'Mallory';
  const [member] = await engine.presence.members('room');
  assert.deepEqual(member, { client: 'c1', user: 'alice', info: { name: 'Alice' } });
  assert.ok(Object.isFrozen(member) && Object.isFrozen(member?.info));
});
