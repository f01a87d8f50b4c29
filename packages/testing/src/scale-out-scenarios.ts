// The multi-process scenarios every shared engine must pass (run by packages/redis and packages/nats
// with their engine config): real OS processes, clients spread over them, no sticky sessions.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '@tidings/engine/testing';
import { TransportName } from '@tidings/protocol';
import {
  type AfterHook,
  acknowledged,
  assertReceived,
  type ClientSubscriber,
  type Cluster,
  clientPublisher,
  clientSubscriber,
  httpPublisher,
  hubPublisher,
  Ledger,
  type LongPoller,
  longPoller,
  type PresenceWatcher,
  presenceOf,
  presenceWatcher,
  publishLoop,
  type Subscriber,
  startCluster,
  waitForAll,
} from './scale-out.js';
import type { EngineConfig } from './server-process.js';

const PROCESSES = 3;
const CLIENTS = 6;
const POLLERS = 3;

/** Clients alternate WebSocket and HTTP streaming; with three processes each gets one of each. */
function transportOf(i: number): TransportName {
  return i % 2 === 0 ? TransportName.websocket : TransportName.stream;
}

interface Audience {
  clients: ClientSubscriber[];
  pollers: LongPoller[];
  all: Subscriber[];
}

/**
 * Clients and long-pollers for `channel`, all starting right after `from` (before anything is
 * published), so each must get every message. Clients connect through `origin(i)`.
 */
async function audience(
  t: AfterHook,
  cluster: Cluster,
  channel: string,
  origin: (i: number) => string,
): Promise<Audience> {
  const from = await cluster.processes[0].position(channel);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      clientSubscriber(t, origin(i), channel, {
        name: `client-${i}`,
        since: from,
        transport: transportOf(i),
      }),
    ),
  );
  const pollers = Array.from({ length: POLLERS }, (_, i) =>
    longPoller(t, cluster.urls, channel, { name: `poller-${i}`, from }),
  );
  return { clients, pollers, all: [...clients, ...pollers] };
}

async function settle(audience: Audience, ledger: Ledger, epoch: string): Promise<void> {
  const expected = ledger.expected(epoch);
  await waitForAll(audience.all, () => expected.length);
  // Anything extra (a duplicate) would arrive right behind the last message.
  await sleep(300);
  for (const subscriber of audience.all) assertReceived(subscriber, expected);
}

/**
 * Three processes on one engine. Six clients (WebSocket and HTTP streaming), two per process; three long-pollers whose
 * every request goes to the next process; publishes through the clients, through HTTP to each process
 * in turn and through each process's hub. Every subscriber gets every message once, in order.
 */
export async function spreadScenario(t: AfterHook, engine: EngineConfig): Promise<void> {
  const channel = 'room.spread';
  const cluster = await startCluster(t, PROCESSES, { engine, label: 'spread' });
  const [first] = cluster.processes;
  const { epoch } = await first.position(channel);
  const audience_ = await audience(t, cluster, channel, (i) => cluster.processes[i % PROCESSES].origin);
  const ledger = new Ledger();

  await Promise.all([
    ...audience_.clients.map((c) => publishLoop({ count: 10 }, clientPublisher(c, channel, ledger))),
    publishLoop({ count: 60 }, httpPublisher(cluster, channel, ledger, 'http')),
    ...cluster.processes.map((p) =>
      publishLoop({ count: 20 }, async (i) => {
        const id = `${p.label}:${i}`;
        const ack = await p.publish(channel, { id }, { id });
        ledger.add({ id, epoch: ack.epoch, offset: ack.offset, via: `hub ${p.label}` });
      }),
    ),
  ]);
  assert.equal(ledger.size, CLIENTS * 10 + 60 + PROCESSES * 20);
  await settle(audience_, ledger, epoch);

  // The spread was real: every process took HTTP publishes and answered every poller.
  const httpVia = new Set(ledger.all().flatMap((p) => (p.via.startsWith('http') ? [p.via] : [])));
  assert.equal(httpVia.size, PROCESSES);
  for (const poller of audience_.pollers) {
    assert.equal(new Set(poller.answeredBy).size, PROCESSES, `${poller.name} asked every process`);
    poller.answeredBy.forEach((url, i) => {
      if (i > 0)
        assert.notEqual(url, poller.answeredBy[i - 1], `${poller.name} asked one process twice in a row`);
    });
    assert.deepEqual(poller.errors, []);
  }
  const stats = await Promise.all(cluster.processes.map((p) => p.stats()));
  assert.deepEqual(
    stats.map((s) => s.connections.websocket + s.connections.stream),
    Array(PROCESSES).fill(CLIENTS / PROCESSES),
  );
}

/**
 * Three processes behind a round-robin proxy; publishing through every path, one process is killed
 * with SIGKILL mid-stream. Its clients reconnect through the proxy to the others and resume, pollers
 * and publishers move on to the live ones, and every subscriber still gets every message once, in order.
 */
export async function killScenario(t: AfterHook, engine: EngineConfig): Promise<void> {
  const channel = 'room.kill';
  const cluster = await startCluster(t, PROCESSES, { engine, label: 'kill' });
  const { epoch } = await cluster.processes[0].position(channel);
  const audience_ = await audience(t, cluster, channel, () => cluster.proxy.origin);
  // The proxy spread the clients evenly: two per process.
  assert.deepEqual(
    cluster.processes.map((p) => cluster.proxy.connections.get(p.port)),
    Array(PROCESSES).fill(CLIENTS / PROCESSES),
  );
  const ledger = new Ledger();
  let stopping = false;
  const until = () => stopping;
  const publishing = Promise.all([
    ...audience_.clients.map((c) => publishLoop({ until, pauseMs: 30 }, clientPublisher(c, channel, ledger))),
    publishLoop({ until, pauseMs: 10 }, httpPublisher(cluster, channel, ledger, 'http')),
    publishLoop({ until, pauseMs: 10 }, hubPublisher(cluster, channel, ledger, 'hub')),
  ]);

  await acknowledged(ledger, 40);
  const victim = cluster.processes[1];
  await victim.kill();
  const answeredBefore = audience_.pollers.map((p) => p.answeredBy.length);
  await acknowledged(ledger, 60);
  stopping = true;
  await publishing;
  await settle(audience_, ledger, epoch);

  // The victim's two clients came back through the proxy, to the two live processes.
  assert.ok(
    audience_.clients.filter((c) => c.reconnects > 0).length >= CLIENTS / PROCESSES,
    `reconnects: ${audience_.clients.map((c) => c.reconnects)}`,
  );
  const live = cluster.live();
  assert.equal(live.length, PROCESSES - 1);
  const stats = await Promise.all(live.map((p) => p.stats()));
  assert.equal(
    stats.reduce((sum, s) => sum + s.connections.websocket + s.connections.stream, 0),
    CLIENTS,
  );
  audience_.pollers.forEach((poller, i) => {
    // One answer of the dead process may have been on its way when it died; none after that.
    const after = poller.answeredBy.slice(answeredBefore[i] + 1);
    assert.ok(after.length > 0 && !after.includes(victim.url), `${poller.name} asked the dead process`);
  });
}

/**
 * A rolling deploy under traffic: three processes behind the proxy; one by one, two are taken out of
 * the proxy and stopped gracefully (SIGTERM: clients are told to reconnect) and a fresh process takes
 * each one's place. Clients and pollers follow; every subscriber gets every message once, in order.
 */
export async function rollingRestartScenario(t: AfterHook, engine: EngineConfig): Promise<void> {
  const channel = 'room.rolling';
  const cluster = await startCluster(t, PROCESSES, { engine, label: 'rolling' });
  const { epoch } = await cluster.processes[0].position(channel);
  const audience_ = await audience(t, cluster, channel, () => cluster.proxy.origin);
  const ledger = new Ledger();
  let stopping = false;
  const until = () => stopping;
  const publishing = Promise.all([
    ...audience_.clients.map((c) => publishLoop({ until, pauseMs: 30 }, clientPublisher(c, channel, ledger))),
    publishLoop({ until, pauseMs: 10 }, httpPublisher(cluster, channel, ledger, 'http')),
    publishLoop({ until, pauseMs: 10 }, hubPublisher(cluster, channel, ledger, 'hub')),
  ]);
  const [old0, old1] = cluster.processes;
  await acknowledged(ledger, 30);
  await cluster.drain(old0);
  await cluster.add();
  await acknowledged(ledger, 30);
  await cluster.drain(old1);
  await cluster.add();
  await acknowledged(ledger, 30);
  stopping = true;
  await publishing;
  await settle(audience_, ledger, epoch);

  assert.deepEqual(
    [old0.alive, old1.alive, (await old0.exited).code, (await old1.exited).code],
    [false, false, 0, 0],
    'graceful stops exit with code 0',
  );
  assert.ok(audience_.clients.filter((c) => c.reconnects > 0).length >= 2 * (CLIENTS / PROCESSES));
  const stats = await Promise.all(cluster.live().map((p) => p.stats()));
  assert.equal(
    stats.reduce((sum, s) => sum + s.connections.websocket + s.connections.stream, 0),
    CLIENTS,
  );
}

/**
 * Presence across processes (`engine` must have presence, with a short member TTL): two members per
 * process; every process lists all six and every member hears every other join; one leaves and all
 * hear it; a process is killed and, once its members' TTL has passed, the others drop them, with leaves.
 */
export async function presenceScenario(t: AfterHook, engine: EngineConfig, ttlMs: number): Promise<void> {
  const channel = 'room.presence';
  const cluster = await startCluster(t, PROCESSES, { engine, label: 'presence', presence: ['room.*'] });
  const watchers: PresenceWatcher[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    watchers.push(await presenceWatcher(t, cluster.processes[i % PROCESSES].origin, channel));
  }
  const everyone = watchers.map((w) => w.client).sort();
  const sameOnEvery = async (expected: string[]) =>
    eventually(async () => {
      for (const p of cluster.live()) assert.deepEqual(await presenceOf(p.url, channel), expected, p.label);
    }, 10_000);
  await sameOnEvery(everyone);
  // The first member was there before the others: it heard each of them join, whatever their process.
  await eventually(() => {
    assert.deepEqual(
      watchers[0].events.filter((e) => e.startsWith('+')).sort(),
      everyone.filter((c) => c !== watchers[0].client).map((c) => `+${c}`),
    );
  }, 10_000);

  const leaving = watchers[1];
  leaving.close();
  await sameOnEvery(everyone.filter((c) => c !== leaving.client));
  await eventually(() => {
    for (const w of watchers) if (w !== leaving) assert.ok(w.events.includes(`-${leaving.client}`), w.client);
  }, 10_000);

  const victim = cluster.processes[2];
  const gone = watchers.filter((_, i) => i % PROCESSES === 2).map((w) => w.client);
  await victim.kill();
  const diedAt = Date.now();
  const left = everyone.filter((c) => c !== leaving.client && !gone.includes(c));
  await sameOnEvery(left);
  // Within a few TTLs: the survivors prune them on their next refresh.
  const took = Date.now() - diedAt;
  assert.ok(took < ttlMs * 3 + 5_000, `dead members dropped after ${took} ms`);
  await eventually(() => {
    for (const w of watchers) {
      if (w === leaving || gone.includes(w.client)) continue;
      for (const c of gone) assert.ok(w.events.includes(`-${c}`), `${w.client} heard ${c} leave`);
    }
  }, 10_000);
}
