import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import { createHub, MemoryEngine, type Message, type Position, type Subscription } from '@tidings/server';
import fc from 'fast-check';

/**
 * Random interleavings of publish / subscribe / unsubscribe / setState / history / clock ticks against
 * a reference model: every subscription must have received exactly what the model says, in order.
 */

const CHANNELS = ['a', 'b', 'c.x'] as const;
type ChannelName = (typeof CHANNELS)[number];

type Command =
  | { kind: 'publish'; channel: ChannelName; ttl?: number; id?: string }
  | { kind: 'subscribe'; channel: ChannelName; since: 'now' | 'snapshot' | { back: number } }
  | { kind: 'subscribePattern' }
  | { kind: 'unsubscribe'; which: number }
  | { kind: 'setState'; channel: ChannelName }
  | { kind: 'history'; channel: ChannelName; back: number }
  | { kind: 'tick'; ms: number };

const channel = fc.constantFrom(...CHANNELS);
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        kind: fc.constant('publish' as const),
        channel,
        ttl: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
        id: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
      },
      { requiredKeys: ['kind', 'channel'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('subscribe' as const),
      channel,
      since: fc.oneof(
        fc.constant('now' as const),
        fc.constant('snapshot' as const),
        fc.record({ back: fc.integer({ min: 0, max: 8 }) }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'subscribePattern' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), which: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setState' as const), channel }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('history' as const),
      channel,
      back: fc.integer({ min: 0, max: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 20 }) }),
  },
);

interface ModelMessage {
  offset: number;
  data: string;
  expiresAt?: number;
}
interface ModelChannel {
  messages: ModelMessage[];
  snapshot?: { offset: number; data: string };
  ids: Map<string, number>;
}
interface Tracked {
  subscription?: Subscription;
  got: string[];
  expected: string[];
  pattern: boolean;
  channel: string;
}

test('hub agrees with a reference model under random interleavings', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
      let clock = 1_000_000;
      const hub = createHub({
        engine: new MemoryEngine({ now: () => clock, sweepIntervalMs: 0 }),
        now: () => clock,
        onError: (e) => assert.fail(String(e)),
      });
      const model = new Map<string, ModelChannel>(CHANNELS.map((c) => [c, { messages: [], ids: new Map() }]));
      const live: Tracked[] = [];
      const all: Tracked[] = [];
      const epochs = new Map<string, string>();
      for (const c of CHANNELS) epochs.set(c, (await hub.position(c)).epoch);
      const visible = (m: ModelMessage) => m.expiresAt === undefined || m.expiresAt > clock;
      const label = (c: string, m: { offset: number; data: string }) => `${c}#${m.offset}:${m.data}`;
      let counter = 0;
      try {
        for (const cmd of commands) {
          switch (cmd.kind) {
            case 'publish': {
              const state = model.get(cmd.channel)!;
              const data = `d${counter++}`;
              const result = await hub.publish(cmd.channel, data, { ttl: cmd.ttl, id: cmd.id });
              const seen = cmd.id === undefined ? undefined : state.ids.get(cmd.id);
              if (seen !== undefined) {
                assert.equal(result.duplicate, true);
                assert.equal(result.offset, seen);
                break;
              }
              const message: ModelMessage = { offset: state.messages.length + 1, data };
              if (cmd.ttl !== undefined) message.expiresAt = clock + cmd.ttl;
              state.messages.push(message);
              if (cmd.id !== undefined) state.ids.set(cmd.id, message.offset);
              assert.equal(result.offset, message.offset);
              assert.equal(result.duplicate, false);
              for (const t of live)
                if (t.pattern ? cmd.channel.startsWith('c.') : t.channel === cmd.channel)
                  t.expected.push(label(cmd.channel, message));
              break;
            }
            case 'subscribe': {
              const state = model.get(cmd.channel)!;
              const tracked: Tracked = {
                got: [],
                expected: [],
                pattern: false,
                channel: cmd.channel,
              };
              let since: 'now' | 'snapshot' | Position = 'now';
              if (cmd.since === 'snapshot') {
                since = 'snapshot';
                const from = state.snapshot?.offset ?? 0;
                if (state.snapshot)
                  tracked.expected.push(`snapshot#${state.snapshot.offset}:${state.snapshot.data}`);
                for (const m of state.messages)
                  if (m.offset > from && visible(m)) tracked.expected.push(label(cmd.channel, m));
              } else if (cmd.since !== 'now') {
                const offset = Math.max(0, state.messages.length - cmd.since.back);
                since = { epoch: epochs.get(cmd.channel)!, offset };
                for (const m of state.messages)
                  if (m.offset > offset && visible(m)) tracked.expected.push(label(cmd.channel, m));
              }
              tracked.subscription = hub.subscribe(
                cmd.channel,
                (m: Message) => {
                  tracked.got.push(
                    m.snapshot
                      ? `snapshot#${m.offset}:${m.data}`
                      : label(m.channel, { offset: m.offset, data: m.data as string }),
                  );
                },
                { since },
              );
              await tracked.subscription?.ready;
              live.push(tracked);
              all.push(tracked);
              break;
            }
            case 'subscribePattern': {
              const tracked: Tracked = { got: [], expected: [], pattern: true, channel: 'c.*' };
              tracked.subscription = hub.subscribe('c.*', (m: Message) => {
                tracked.got.push(label(m.channel, { offset: m.offset, data: m.data as string }));
              });
              await tracked.subscription?.ready;
              live.push(tracked);
              all.push(tracked);
              break;
            }
            case 'unsubscribe': {
              if (live.length === 0) break;
              await settle();
              const [tracked] = live.splice(cmd.which % live.length, 1);
              tracked.subscription?.unsubscribe();
              break;
            }
            case 'setState': {
              const state = model.get(cmd.channel)!;
              const data = `s${counter++}`;
              const at = await hub.setState(cmd.channel, data);
              assert.equal(at.offset, state.messages.length);
              state.snapshot = { offset: at.offset, data };
              break;
            }
            case 'history': {
              const state = model.get(cmd.channel)!;
              const offset = Math.max(0, state.messages.length - cmd.back);
              const history = await hub.history(cmd.channel, {
                since: { epoch: epochs.get(cmd.channel)!, offset },
              });
              assert.equal(history.reset, false);
              assert.deepEqual(
                history.messages.map((m) => label(m.channel, { offset: m.offset, data: m.data as string })),
                state.messages
                  .filter((m) => m.offset > offset && visible(m))
                  .map((m) => label(cmd.channel, m)),
              );
              break;
            }
            case 'tick':
              await settle();
              clock += cmd.ms;
              break;
          }
        }
        await settle();
        for (const tracked of all)
          assert.deepEqual(tracked.got, tracked.expected, `subscription to ${tracked.channel}`);
      } finally {
        await hub.close();
      }
    }),
    { numRuns: 150 },
  );
});
