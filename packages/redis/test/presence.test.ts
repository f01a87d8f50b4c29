import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHub, type Hub, type PresenceEvent } from '@tidings/server';
import { eventually, listen, presenceContract } from '@tidings/testing';
import { WebSocket } from 'ws';
import { presenceKeys, RedisEngine, type RedisEngineOptions } from '../src/index.js';
import { keysUnder, uid, withRedis } from './support.js';

await withRedis((admin, runPrefix) => {
  presenceContract('redis', {
    create: async () => new RedisEngine({ prefix: `${runPrefix}contract:` }),
    createPeer: async () => new RedisEngine({ prefix: `${runPrefix}contract:` }),
    asyncDelivery: true,
  });

  /** Engines given the same prefix share their presence, as server processes on one Redis do. */
  async function open(t: TestContext, options: RedisEngineOptions = {}): Promise<RedisEngine> {
    const engine = new RedisEngine({ prefix: `${runPrefix}${uid()}:`, ...options });
    t.after(() => engine.close());
    await engine.ready();
    return engine;
  }

  async function listenTo(engine: RedisEngine, channel: string): Promise<PresenceEvent[]> {
    const events: PresenceEvent[] = [];
    await engine.presence.subscribe(channel, (event) => events.push(event));
    return events;
  }

  /** Cuts an engine off from Redis without a word, as SIGKILL would: no leave, no more refreshes. */
  function kill(engine: RedisEngine): void {
    engine.commandConnection.disconnect(false);
    engine.subscriberConnection.disconnect(false);
  }

  describe('redis presence', () => {
    test('a killed process: its member stays for the TTL, then goes, and the others hear it leave once', async (t) => {
      const ttl = 900;
      const a = await open(t, { presenceTtlMs: ttl });
      const b = await open(t, { prefix: a.prefix, presenceTtlMs: ttl });
      const c = await open(t, { prefix: a.prefix, presenceTtlMs: ttl });
      const channel = 'room';
      const heardByB = await listenTo(b, channel);
      const heardByC = await listenTo(c, channel);
      await a.presence.join(channel, { client: 'a1', user: 'alice' });
      await b.presence.join(channel, { client: 'b1', user: 'bob' });
      await eventually(() => assert.equal(heardByB.length, 2));
      const killedAt = Date.now();
      kill(a);
      // Refreshed at most ttl/3 before the kill, so listed for at least 2/3 of the TTL after it.
      await sleep(150);
      assert.deepEqual((await b.presence.members(channel)).map((m) => m.client).sort(), ['a1', 'b1']);
      await eventually(() => {
        assert.ok(
          heardByB.some((e) => e.type === 'leave' && e.member.client === 'a1'),
          'B heard a1 leave',
        );
      }, 5_000);
      const gone = Date.now() - killedAt;
      assert.ok(gone <= ttl + ttl / 3 + 500, `a1 left ${gone} ms after the kill (TTL ${ttl})`);
      assert.deepEqual(await b.presence.members(channel), [{ client: 'b1', user: 'bob' }]);
      await eventually(() => assert.equal(heardByC.filter((e) => e.type === 'leave').length, 1));
      await sleep(300);
      const leaves = [...heardByB, ...heardByC].filter((e) => e.type === 'leave');
      assert.equal(leaves.length, 2, 'one leave event, heard by each of B and C');
      assert.deepEqual(leaves[0]?.member, { client: 'a1', user: 'alice' });
    });

    test('a live process keeps its members for many TTLs', async (t) => {
      const a = await open(t, { presenceTtlMs: 300 });
      const b = await open(t, { prefix: a.prefix, presenceTtlMs: 300 });
      const heard = await listenTo(b, 'room');
      await a.presence.join('room', { client: 'a1', user: 'alice' });
      await sleep(1_200);
      assert.deepEqual(await b.presence.members('room'), [{ client: 'a1', user: 'alice' }]);
      assert.deepEqual(
        heard.map((e) => e.type),
        ['join'],
      );
    });

    test('members Redis lost come back with the next refresh, announced again', async (t) => {
      const a = await open(t, { presenceTtlMs: 600 });
      const heard = await listenTo(a, 'room');
      await a.presence.join('room', { client: 'a1', user: 'alice' });
      const keys = presenceKeys(a.prefix, 'room');
      await admin.del(keys.expiry, keys.members);
      assert.deepEqual(await a.presence.members('room'), []);
      await eventually(async () => assert.equal((await a.presence.members('room')).length, 1), 2_000);
      await eventually(() =>
        assert.deepEqual(
          heard.map((e) => e.type),
          ['join', 'join'],
        ),
      );
    });

    test('keys: a sorted set and a hash under the channel hash tag, with a TTL, gone with the last member', async (t) => {
      const a = await open(t, { presenceTtlMs: 10_000 });
      await a.presence.join('room.1', { client: 'a1', user: 'alice', info: { name: 'Alice' } });
      const keys = presenceKeys(a.prefix, 'room.1');
      assert.deepEqual(keys, { expiry: `${a.prefix}{room.1}:pres`, members: `${a.prefix}{room.1}:pmem` });
      assert.deepEqual(await keysUnder(admin, a.prefix), [keys.expiry, keys.members].sort());
      assert.equal(
        await admin.hget(keys.members, 'a1'),
        '{"client":"a1","user":"alice","info":{"name":"Alice"}}',
      );
      const pttl = await admin.pttl(keys.expiry);
      assert.ok(pttl > 10_000 && pttl <= 20_000, `expiry key TTL ${pttl}`);
      await a.presence.leave('room.1', 'a1');
      assert.deepEqual(await keysUnder(admin, a.prefix), []);
    });

    test('a refused join is not brought in by the refresh', async (t) => {
      const a = await open(t, { presenceTtlMs: 300 });
      const b = await open(t, { prefix: a.prefix, presenceTtlMs: 300 });
      // A key of the wrong type makes the script fail: Redis refuses the join.
      const keys = presenceKeys(a.prefix, 'room');
      await admin.set(keys.expiry, 'not a sorted set');
      await assert.rejects(a.presence.join('room', { client: 'a1', user: 'alice' }));
      await admin.del(keys.expiry);
      await sleep(400);
      assert.deepEqual(await b.presence.members('room'), []);
    });
  });

  describe('presence across server processes on Redis', () => {
    function hub(t: TestContext, prefix: string): Hub {
      const h = createHub({ engine: new RedisEngine({ prefix }), onError: () => {} });
      t.after(() => h.close());
      return h;
    }

    async function connect(t: TestContext, url: string, token: string) {
      const frames: Record<string, unknown>[] = [];
      const socket = new WebSocket(`${url}/ws?token=${token}`);
      socket.on('message', (data) => frames.push(JSON.parse(data.toString())));
      t.after(() => socket.terminate());
      await eventually(() => assert.ok(frames.some((f) => f.type === 'welcome')));
      return { frames, socket, client: frames[0]?.client as string };
    }

    test('a member on one process is listed and heard on the other; leaving too', async (t) => {
      const prefix = `${runPrefix}${uid()}:`;
      const options = {
        authenticate: ({ token }: { token?: string }) => ({ id: token ?? 'anon' }),
        presence: ['room'],
      };
      const one = await listen({ ...options, hub: hub(t, prefix) });
      const two = await listen({ ...options, hub: hub(t, prefix) });
      t.after(one.close);
      t.after(two.close);
      const alice = await connect(t, one.wsUrl, 'alice');
      alice.socket.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room' }));
      await eventually(() => assert.ok(alice.frames.some((f) => f.type === 'subscribed')));
      const bob = await connect(t, two.wsUrl, 'bob');
      bob.socket.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room' }));
      await eventually(() =>
        assert.deepEqual(
          alice.frames.filter((f) => f.type === 'join'),
          [{ type: 'join', channel: 'room', member: { client: bob.client, user: 'bob' } }],
        ),
      );
      bob.socket.send(JSON.stringify({ type: 'presence', id: 2, channel: 'room' }));
      await eventually(() => {
        const reply = bob.frames.find((f) => f.type === 'presence') as { members: { user: string }[] };
        assert.deepEqual(reply.members.map((m) => m.user).sort(), ['alice', 'bob']);
      });
      bob.socket.terminate();
      await eventually(() => assert.ok(alice.frames.some((f) => f.type === 'leave')));
      const answer = await fetch(`${one.url}/presence?channel=room&token=carol`);
      assert.deepEqual(await answer.json(), {
        type: 'presence',
        channel: 'room',
        members: [{ client: alice.client, user: 'alice' }],
      });
    });
  });
});
