import assert from 'node:assert/strict';
import { after, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { PresenceEvent } from '@tidings/server';
import { eventually, presenceContract } from '@tidings/testing';
import type { NatsEngine, NatsEngineOptions } from '../src/index.js';
import { deleteStreams, NATS_URL, namespace, natsUnavailable, Relay, testEngine } from './nats-helpers.js';

const unavailable = await natsUnavailable();
if (unavailable && process.env.CI === 'true') {
  test('NATS JetStream is reachable (required with CI=true)', () => assert.fail(unavailable));
} else if (unavailable) {
  test('NATS presence', { skip: `${unavailable} (set CI=true to fail instead)` }, () => undefined);
} else {
  const streams: string[] = [];
  after(async () => {
    for (const stream of streams) await deleteStreams(stream);
  });
  /** A namespace of its own; engines given the same one share presence, as server processes do. */
  function own(label: string): Required<Pick<NatsEngineOptions, 'stream' | 'subjectPrefix'>> {
    const ns = namespace(label);
    streams.push(ns.stream);
    return ns;
  }

  const contract = own('PRES_CONTRACT');
  presenceContract('nats', {
    create: async () => testEngine(contract),
    createPeer: async () => testEngine(contract),
    asyncDelivery: true,
  });

  async function open(t: TestContext, options: NatsEngineOptions): Promise<NatsEngine> {
    const engine = testEngine(options);
    t.after(() => engine.close());
    await engine.ready();
    return engine;
  }

  async function listenTo(engine: NatsEngine, channel: string): Promise<PresenceEvent[]> {
    const events: PresenceEvent[] = [];
    await engine.presence.subscribe(channel, (event) => events.push(event));
    return events;
  }

  describe('nats presence', () => {
    test('a process cut off: its member stays for the TTL, then goes, and the others hear it leave once', async (t) => {
      const ttl = 900;
      const ns = own('PRES_CUT');
      // A's connection runs through a relay, so it can vanish without a word, as with SIGKILL.
      const relay = await new Relay().start();
      t.after(() => relay.stop());
      const a = await open(t, { ...ns, servers: relay.url, presenceTtlMs: ttl, reconnectTimeWaitMs: 60_000 });
      const b = await open(t, { ...ns, presenceTtlMs: ttl });
      const c = await open(t, { ...ns, presenceTtlMs: ttl });
      const channel = 'room';
      const heardByB = await listenTo(b, channel);
      const heardByC = await listenTo(c, channel);
      await a.presence.join(channel, { client: 'a1', user: 'alice' });
      await b.presence.join(channel, { client: 'b1', user: 'bob' });
      await eventually(() => assert.equal(heardByB.length, 2));
      const cutAt = Date.now();
      await relay.stop();
      await sleep(150);
      assert.deepEqual((await b.presence.members(channel)).map((m) => m.client).sort(), ['a1', 'b1']);
      await eventually(() => {
        assert.ok(
          heardByB.some((e) => e.type === 'leave' && e.member.client === 'a1'),
          'B heard a1 leave',
        );
      }, 5_000);
      const gone = Date.now() - cutAt;
      t.diagnostic(`a1 left ${gone} ms after the cut (TTL ${ttl} ms)`);
      assert.ok(gone <= ttl + 600, `a1 left ${gone} ms after the cut (TTL ${ttl})`);
      assert.deepEqual(await b.presence.members(channel), [{ client: 'b1', user: 'bob' }]);
      await eventually(() => assert.equal(heardByC.filter((e) => e.type === 'leave').length, 1));
      await sleep(300);
      const leaves = [...heardByB, ...heardByC].filter((e) => e.type === 'leave');
      assert.equal(leaves.length, 2, 'one leave event, heard by each of B and C');
      assert.deepEqual(leaves[0]?.member, { client: 'a1', user: 'alice' });
    });

    test('a live process keeps its members for many TTLs, with one join event', async (t) => {
      const ns = own('PRES_LIVE');
      // Short enough for several refreshes, long enough that a busy test machine's stalls do not expire it.
      const a = await open(t, { ...ns, presenceTtlMs: 600 });
      const b = await open(t, { ...ns, presenceTtlMs: 600 });
      const heard = await listenTo(b, 'room');
      await a.presence.join('room', { client: 'a1', user: 'alice' });
      await sleep(2_000);
      assert.deepEqual(await b.presence.members('room'), [{ client: 'a1', user: 'alice' }]);
      assert.deepEqual(
        heard.map((e) => e.type),
        ['join'],
      );
    });

    test('a member left by another process stays gone: its own process stops refreshing it', async (t) => {
      const ns = own('PRES_TAKEN');
      const a = await open(t, { ...ns, presenceTtlMs: 300 });
      const b = await open(t, { ...ns, presenceTtlMs: 300 });
      const heard = await listenTo(b, 'room');
      await a.presence.join('room', { client: 'a1', user: 'alice' });
      await b.presence.leave('room', 'a1');
      await sleep(800);
      assert.deepEqual(await a.presence.members('room'), []);
      assert.deepEqual(
        heard.map((e) => e.type),
        ['join', 'leave'],
      );
    });

    test('an engine that never uses presence creates no presence stream', async (t) => {
      const ns = own('PRES_NONE');
      const engine = await open(t, { ...ns, presenceTtlMs: 150 });
      await engine.position('room');
      await sleep(400);
      const nc = await connect({ servers: NATS_URL, reconnect: false });
      t.after(() => nc.close());
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const name of jsm.streams.names()) if (name.startsWith(ns.stream)) names.push(name);
      assert.deepEqual(names, [ns.stream, `${ns.stream}_SNAP`]);
    });

    test('a `>` pattern listener hears every channel below it, not the channel itself', async (t) => {
      const a = await open(t, { ...own('PRES_GT'), presenceTtlMs: 10_000 });
      const heard = await listenTo(a, 'lobby.>');
      await a.presence.join('lobby', { client: 'c0', user: 'u' });
      await a.presence.join('lobby.one', { client: 'c1', user: 'u' });
      await a.presence.join('lobby.one.deeper', { client: 'c2', user: 'u' });
      await eventually(() => assert.equal(heard.length, 2));
      await sleep(150);
      assert.deepEqual(
        heard.map((e) => `${e.type} ${e.channel} ${e.member.client}`),
        ['join lobby.one c1', 'join lobby.one.deeper c2'],
      );
    });

    test('client ids of any text and channels with dots are kept apart', async (t) => {
      const a = await open(t, { ...own('PRES_NAMES'), presenceTtlMs: 10_000 });
      const odd = { client: 'a.b *>\n é', user: 'u' };
      await a.presence.join('room', odd);
      await a.presence.join('room.inner', { client: 'x', user: 'v' });
      assert.deepEqual(await a.presence.members('room'), [odd]);
      assert.deepEqual(await a.presence.members('room.inner'), [{ client: 'x', user: 'v' }]);
    });
  });
}
