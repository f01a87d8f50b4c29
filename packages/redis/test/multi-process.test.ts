// Several Tidings server processes (real OS processes) on one Redis prefix, no sticky sessions:
// exactly-once in-order delivery across processes, a process killed mid-stream, Redis losing the data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  acknowledged,
  assertReceived,
  type ClientSubscriber,
  type Cluster,
  clientPublisher,
  clientSubscriber,
  type Delivery,
  httpPublisher,
  hubPublisher,
  killScenario,
  Ledger,
  longPoller,
  presenceScenario,
  publishLoop,
  rollingRestartScenario,
  type Subscriber,
  spreadScenario,
  startCluster,
  waitFor,
  waitForAll,
} from '@tidings/testing';
import { deleteKeys, keysUnder, withRedis } from './support.js';

const LIMIT = { timeout: 60_000 };

/** Two clients per process and three round-robin long-pollers, all from the channel's snapshot. */
async function fromSnapshot(
  t: { after(fn: () => unknown): void },
  cluster: Cluster,
  channel: string,
): Promise<{ clients: ClientSubscriber[]; all: Subscriber[] }> {
  const clients = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      clientSubscriber(t, cluster.processes[i % 3].origin, channel, {
        name: `client-${i}`,
        since: 'snapshot',
      }),
    ),
  );
  // Long waits: no poller asks anything while the test deletes the data (it is parked in a wait).
  const pollers = Array.from({ length: 3 }, (_, i) =>
    longPoller(t, cluster.urls, channel, { name: `poller-${i}`, since: 'snapshot', waitMs: 20_000 }),
  );
  return { clients, all: [...clients, ...pollers] };
}

/** Publishes `count` messages through each path (clients, HTTP, hubs) at once. */
function publishEverywhere(
  cluster: Cluster,
  clients: ClientSubscriber[],
  channel: string,
  ledger: Ledger,
  phase: string,
  options: { count?: number; until?: () => boolean; pauseMs?: number },
): Promise<unknown> {
  return Promise.all([
    ...clients.map((c) =>
      publishLoop(options, (i) => clientPublisher(c, channel, ledger)(i + (phase === 'a' ? 0 : 1_000))),
    ),
    publishLoop(options, httpPublisher(cluster, channel, ledger, `http-${phase}`)),
    publishLoop(options, hubPublisher(cluster, channel, ledger, `hub-${phase}`)),
  ]);
}

await withRedis((admin, runPrefix) => {
  test('three processes, clients spread over them: every message once, in order', LIMIT, async (t) => {
    const prefix = `${runPrefix}spread:`;
    t.after(() => deleteKeys(admin, prefix));
    await spreadScenario(t, { kind: 'redis', prefix });
  });

  test(
    'a process killed mid-stream: its clients resume on the others, nothing lost or repeated',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}kill:`;
      t.after(() => deleteKeys(admin, prefix));
      await killScenario(t, { kind: 'redis', prefix });
    },
  );

  test(
    'a rolling restart under traffic (SIGTERM, replace, twice): nothing lost or repeated',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}rolling:`;
      t.after(() => deleteKeys(admin, prefix));
      await rollingRestartScenario(t, { kind: 'redis', prefix });
    },
  );

  test(
    'presence across processes: listed everywhere, joins and leaves heard, the dead dropped',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}presence:`;
      t.after(() => deleteKeys(admin, prefix));
      await presenceScenario(t, { kind: 'redis', prefix, presenceTtlMs: 1_500 }, 1_500);
    },
  );

  test(
    'Redis loses the data between two messages: reset, the new snapshot, then every message once',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}loss:`;
      t.after(() => deleteKeys(admin, prefix));
      const channel = 'doc.loss';
      const cluster = await startCluster(t, 3, { engine: { kind: 'redis', prefix }, label: 'loss' });
      const before = await cluster.processes[0].setState(channel, { state: 'before' });
      const { clients, all } = await fromSnapshot(t, cluster, channel);

      const ledger = new Ledger();
      await publishEverywhere(cluster, clients, channel, ledger, 'a', { count: 10 });
      const snapshot1: Delivery = { type: 'snapshot', ...before, data: { state: 'before' } };
      const phase1 = [snapshot1, ...ledger.expected(before.epoch)];
      await waitForAll(all, () => phase1.length);
      await parked(cluster, 3);
      for (const subscriber of all) assertReceived(subscriber, phase1);

      // What FLUSHALL or a restart without persistence does to this prefix, then the app sets its state.
      assert.ok((await deleteKeys(admin, prefix)) > 0);
      assert.deepEqual(await keysUnder(admin, prefix), []);
      const after = await cluster.processes[1].setState(channel, { state: 'after' });
      assert.notEqual(after.epoch, before.epoch);
      assert.equal(after.offset, 0);

      await publishEverywhere(cluster, clients, channel, ledger, 'b', { count: 10 });
      const expected = [
        ...phase1,
        { type: 'reset', ...after },
        { type: 'snapshot', ...after, data: { state: 'after' } },
        ...ledger.expected(after.epoch),
      ] satisfies Delivery[];
      await waitForAll(all, () => expected.length);
      await sleep(300);
      for (const subscriber of all) assertReceived(subscriber, expected);
    },
  );

  test(
    'Redis loses the data while publishing goes on: a prefix of the old epoch, reset, the new one in full',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}loss-live:`;
      t.after(() => deleteKeys(admin, prefix));
      const channel = 'doc.live';
      const cluster = await startCluster(t, 3, { engine: { kind: 'redis', prefix }, label: 'loss-live' });
      const { epoch: old } = await cluster.processes[0].position(channel);
      const { clients, all } = await fromSnapshot(t, cluster, channel);

      const ledger = new Ledger();
      let stopping = false;
      const publishing = publishEverywhere(cluster, clients, channel, ledger, 'a', {
        until: () => stopping,
        pauseMs: 10,
      });
      await acknowledged(ledger, 40);
      assert.ok((await deleteKeys(admin, prefix)) > 0);
      await acknowledged(ledger, 60);
      stopping = true;
      await publishing;

      const epochs = [...new Set(ledger.all().map((p) => p.epoch))];
      assert.equal(epochs.length, 2, `epochs acknowledged: ${epochs}`);
      assert.equal(epochs[0], old);
      const oldMessages = ledger.expected(old);
      const newMessages = ledger.expected(epochs[1]);
      assert.ok(oldMessages.length > 10 && newMessages.length > 10);
      const reset: Delivery = { type: 'reset', epoch: epochs[1], offset: 0 };
      // Each subscriber: the old epoch from its first message up to wherever it was when the data went
      // (the rest is lost with it: no snapshot to give), then the reset and every message of the new one.
      await waitForTail(all, (s) => s.received.findIndex((d) => d.type === 'reset') + 1 + newMessages.length);
      await sleep(300);
      for (const subscriber of all) {
        const cut = subscriber.received.findIndex((d) => d.type === 'reset');
        assert.ok(cut >= 0, `${subscriber.name} got no reset`);
        assertReceived(subscriber, [...oldMessages.slice(0, cut), reset, ...newMessages]);
      }
    },
  );
});

/** Waits until `pollers` long-polls are open and have read where they stand: nobody reads in the next moments. */
async function parked(cluster: Cluster, pollers: number): Promise<void> {
  await waitFor(
    async () => {
      const stats = await Promise.all(cluster.live().map((p) => p.stats()));
      return stats.reduce((sum, s) => sum + s.connections.longpoll, 0) === pollers;
    },
    10_000,
    'pollers parked',
  );
  await sleep(300);
}

function waitForTail(subscribers: Subscriber[], count: (s: Subscriber) => number): Promise<void> {
  return waitForAll(subscribers, (s) => (count(s) > 0 ? count(s) : Number.POSITIVE_INFINITY));
}
