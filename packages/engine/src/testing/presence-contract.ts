import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isTidingsError, type PresenceMember } from '@tidings/protocol';
import type { Engine, EnginePresence, PresenceEvent } from '../engine.js';
import { eventually } from './eventually.js';

export interface PresenceContractSetup {
  /** A fresh engine with presence; the suite closes it. */
  create(): Promise<Engine>;
  /** A second engine on the same backing store (another "process"); omit for the memory engine. */
  createPeer?(): Promise<Engine>;
  /** Events may arrive after the call that caused them (Redis, NATS): tests wait for them. */
  asyncDelivery?: boolean;
  /** Events of different channels may arrive in another order than caused (Redis Cluster). */
  unorderedAcrossChannels?: boolean;
}

function uid(): string {
  return randomBytes(6).toString('hex');
}

function presenceOf(engine: Engine): EnginePresence {
  assert.ok(engine.presence, 'the engine has presence');
  return engine.presence;
}

function byClient(members: PresenceMember[]): PresenceMember[] {
  return [...members].sort((a, b) => a.client.localeCompare(b.client));
}

async function listen(presence: EnginePresence, target: string) {
  const events: PresenceEvent[] = [];
  const stop = await presence.subscribe(target, (event) => events.push(event));
  return { events, stop };
}

/** What each event says, compactly: `join <last segment of the channel> c1 alice`. */
function said(events: PresenceEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.channel.split('.').pop()} ${e.member.client} ${e.member.user}`);
}

function tail(channel: string): string {
  return channel.split('.').pop() as string;
}

/**
 * Registers the presence contract every engine with presence (memory, Redis) must pass, as one
 * `describe` block named after `name`.
 */
export function presenceContract(name: string, setup: PresenceContractSetup): void {
  const quiet = setup.asyncDelivery ? 150 : 0;

  async function open(t: TestContext, create = setup.create): Promise<Engine> {
    const engine = await create();
    t.after(() => engine.close());
    await engine.ready?.();
    return engine;
  }

  /** Waits for what is in flight to arrive, so that "nothing more came" means something. */
  async function settle(): Promise<void> {
    if (quiet > 0) await sleep(quiet);
  }

  describe(`presence contract: ${name}`, () => {
    test('a member joins, is listed with its info, and leaves', async (t) => {
      const presence = presenceOf(await open(t));
      const channel = `room.${uid()}`;
      const { events } = await listen(presence, channel);
      const alice = { client: 'c1', user: 'alice', info: { name: 'Alice', tags: ['a'] } };
      await presence.join(channel, alice);
      assert.deepEqual(await presence.members(channel), [alice]);
      await eventually(() => assert.deepEqual(said(events), [`join ${tail(channel)} c1 alice`]));
      assert.deepEqual(events[0]?.member, alice);
      await presence.leave(channel, 'c1');
      assert.deepEqual(await presence.members(channel), []);
      await eventually(() => assert.equal(events.length, 2));
      assert.deepEqual(events[1], { type: 'leave', channel, member: alice });
    });

    test('one member per connection: the same user twice is two members', async (t) => {
      const presence = presenceOf(await open(t));
      const channel = `room.${uid()}`;
      await presence.join(channel, { client: 'c1', user: 'alice' });
      await presence.join(channel, { client: 'c2', user: 'alice' });
      await presence.join(channel, { client: 'c3', user: 'bob' });
      assert.deepEqual(byClient(await presence.members(channel)), [
        { client: 'c1', user: 'alice' },
        { client: 'c2', user: 'alice' },
        { client: 'c3', user: 'bob' },
      ]);
      await presence.leave(channel, 'c1');
      assert.deepEqual(byClient(await presence.members(channel)), [
        { client: 'c2', user: 'alice' },
        { client: 'c3', user: 'bob' },
      ]);
    });

    test('joining again updates the info without a second join event; leaving twice leaves once', async (t) => {
      const presence = presenceOf(await open(t));
      const channel = `room.${uid()}`;
      const { events } = await listen(presence, channel);
      await presence.join(channel, { client: 'c1', user: 'alice', info: { v: 1 } });
      await presence.join(channel, { client: 'c1', user: 'alice', info: { v: 2 } });
      assert.deepEqual(await presence.members(channel), [{ client: 'c1', user: 'alice', info: { v: 2 } }]);
      await presence.leave(channel, 'c1');
      await presence.leave(channel, 'c1');
      await presence.leave(channel, 'never-joined');
      await eventually(() => assert.equal(events.length, 2));
      await settle();
      assert.deepEqual(
        events.map((e) => e.type),
        ['join', 'leave'],
      );
    });

    test('channels are separate; an unknown channel has no members', async (t) => {
      const presence = presenceOf(await open(t));
      const a = `room.${uid()}`;
      const b = `room.${uid()}`;
      const { events } = await listen(presence, b);
      await presence.join(a, { client: 'c1', user: 'alice' });
      assert.deepEqual(await presence.members(b), []);
      assert.deepEqual(await presence.members(`room.${uid()}`), []);
      await presence.leave(b, 'c1');
      assert.deepEqual(await presence.members(a), [{ client: 'c1', user: 'alice' }]);
      await settle();
      assert.deepEqual(events, []);
    });

    test('a pattern listener hears every matching channel, and nothing else', async (t) => {
      const presence = presenceOf(await open(t));
      const base = `lobby${uid()}`;
      const { events } = await listen(presence, `${base}.*`);
      await presence.join(`${base}.one`, { client: 'c1', user: 'alice' });
      await presence.join(`${base}.one.deeper`, { client: 'c2', user: 'bob' });
      await presence.join(`other${uid()}.one`, { client: 'c3', user: 'carol' });
      await presence.join(`${base}.two`, { client: 'c4', user: 'dave' });
      const heard = () => (setup.unorderedAcrossChannels ? said(events).sort() : said(events));
      await eventually(() => assert.deepEqual(heard(), ['join one c1 alice', 'join two c4 dave']));
      await settle();
      assert.equal(events.length, 2);
    });

    test('a stopped listener hears nothing more; the others still do', async (t) => {
      const presence = presenceOf(await open(t));
      const channel = `room.${uid()}`;
      const first = await listen(presence, channel);
      const second = await listen(presence, channel);
      first.stop();
      first.stop();
      await presence.join(channel, { client: 'c1', user: 'alice' });
      await eventually(() => assert.equal(second.events.length, 1));
      await settle();
      assert.deepEqual(first.events, []);
    });

    test('closing the engine ends its presence: calls reject with CLOSED', async (t) => {
      const engine = await open(t);
      const presence = presenceOf(engine);
      const channel = `room.${uid()}`;
      await presence.join(channel, { client: 'c1', user: 'alice' });
      await engine.close();
      for (const call of [
        () => presence.members(channel),
        () => presence.join(channel, { client: 'c2', user: 'bob' }),
        () => presence.leave(channel, 'c1'),
        () => presence.subscribe(channel, () => {}),
      ]) {
        await assert.rejects(call(), (error) => isTidingsError(error) && error.code === ErrorCode.closed);
      }
    });

    if (setup.createPeer) {
      const createPeer = setup.createPeer;

      test('another process sees the members and hears the joins and leaves', async (t) => {
        const a = presenceOf(await open(t));
        const b = presenceOf(await open(t, createPeer));
        const channel = `room.${uid()}`;
        const { events } = await listen(b, channel);
        await a.join(channel, { client: 'a1', user: 'alice', info: { name: 'Alice' } });
        await b.join(channel, { client: 'b1', user: 'bob' });
        for (const presence of [a, b]) {
          assert.deepEqual(byClient(await presence.members(channel)), [
            { client: 'a1', user: 'alice', info: { name: 'Alice' } },
            { client: 'b1', user: 'bob' },
          ]);
        }
        // Another process may leave a member for it (a connection moved, an admin tool).
        await b.leave(channel, 'a1');
        const c = tail(channel);
        await eventually(() =>
          assert.deepEqual(said(events).sort(), [
            `join ${c} a1 alice`,
            `join ${c} b1 bob`,
            `leave ${c} a1 alice`,
          ]),
        );
        assert.deepEqual(await a.members(channel), [{ client: 'b1', user: 'bob' }]);
      });

      test('an engine that closes takes its members with it, and the others hear them leave', async (t) => {
        const a = await open(t);
        const b = presenceOf(await open(t, createPeer));
        const channel = `room.${uid()}`;
        const { events } = await listen(b, channel);
        await presenceOf(a).join(channel, { client: 'a1', user: 'alice' });
        await b.join(channel, { client: 'b1', user: 'bob' });
        await a.close();
        assert.deepEqual(await b.members(channel), [{ client: 'b1', user: 'bob' }]);
        await eventually(() =>
          assert.ok(
            events.some((e) => e.type === 'leave' && e.member.client === 'a1'),
            'a1 left',
          ),
        );
      });
    }
  });
}
