import { Histogram } from '../lib/histogram.js';
import type { FromLoad, LoadConfig, LoadReport, ToLoad } from '../lib/ipc.js';
import { now } from '../lib/payload.js';
import { findTarget } from '../targets/index.js';
import type { BenchClient, ClientOptions, ConnectClient } from '../targets/target.js';

/**
 * A load process: opens its share of the subscribers, checks every message each one gets (sequence,
 * duplicates, order), records the latency of each, and reports progress so the orchestrator can tell
 * when delivery has drained and the publisher can pace itself.
 */
let config: LoadConfig;
const clients: (BenchClient | undefined)[] = [];
let last: Int32Array;
let received: Uint32Array;
let late: Uint32Array;
let gaps: Uint32Array;
/** First message each subscriber missed (skipped ahead of). */
let firstGap: Uint32Array;
let primedFlags: Uint8Array;
let closedFlags: Uint8Array;
const closeReasons: string[] = [];
let delivered = 0;
let primed = 0;
let closed = 0;
let closing = false;
let lastReceivedAt = 0;
let cpuStart = 0;
const latency = new Histogram();
let connectFn: ConnectClient;
/** Connection generation of each subscriber: frames and closes of a dropped connection are ignored. */
let generation: Uint32Array;
/** Position of the last message frame each subscriber received (Tidings targets). */
let epochs: string[] = [];
let offsets: Float64Array;
// Reconnect scenario: drop time, and per subscriber when it resumed and when it caught up (0 = not yet).
let droppedAt = 0;
let resumedAt: Float64Array;
let caughtUpAt: Float64Array;
let caughtUp = 0;
let reconnectFailed = 0;
let reconnectError: string | undefined;
// Broadcast scenario, per message n at index n - 1: its send time, and when its last copy here arrived.
const broadcastSent: number[] = [];
const broadcastLastAt: number[] = [];

function send(message: FromLoad): void {
  process.send?.(message);
}

function onMessage(i: number, n: number, sent: number): void {
  const at = now();
  if (n === 0) {
    if (primedFlags[i] === 0) {
      primedFlags[i] = 1;
      primed++;
    }
    return;
  }
  // Caught up: the first message published after the resumed subscription was accepted has arrived
  // (in order; the sequence check below vouches for everything before it).
  if (droppedAt > 0 && resumedAt[i] > 0 && caughtUpAt[i] === 0 && sent >= resumedAt[i]) {
    caughtUpAt[i] = at;
    caughtUp++;
  }
  received[i]++;
  latency.record(at - sent);
  lastReceivedAt = at;
  if (config.broadcast) {
    broadcastSent[n - 1] = sent;
    if (!(broadcastLastAt[n - 1] >= at)) broadcastLastAt[n - 1] = at;
  }
  const expectedNext = last[i] + 1;
  if (n === expectedNext) {
    last[i] = n;
    delivered++;
  } else if (n > expectedNext) {
    if (gaps[i] === 0) firstGap[i] = expectedNext;
    gaps[i]++;
    last[i] = n;
    delivered++;
  } else {
    late[i]++;
  }
}

function onClose(i: number, reason: string): void {
  if (closing || closedFlags[i] === 1) return;
  closedFlags[i] = 1;
  closed++;
  if (closeReasons.length < 5) closeReasons.push(`subscriber ${config.first + i}: ${reason}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Options of subscriber i's current connection; a later generation silences this one. */
function clientOptions(i: number, since?: { epoch: string; offset: number }): ClientOptions {
  const gen = generation[i];
  return {
    port: config.port,
    channel: config.channels[(config.first + i) % config.channels.length],
    since,
    onPosition: (epoch, offset) => {
      if (generation[i] !== gen) return;
      epochs[i] = epoch;
      offsets[i] = offset;
    },
    onMessage: (n, sent) => generation[i] === gen && onMessage(i, n, sent),
    onClose: (reason) => generation[i] === gen && onClose(i, reason),
  };
}

/**
 * Drops every connection at once (client side: terminate / destroy) and reopens each immediately,
 * resuming after the last position it received. Everything still in flight on the old connections is
 * discarded, as it would be on a real network drop.
 */
function dropAll(): void {
  droppedAt = now();
  resumedAt = new Float64Array(config.count);
  caughtUpAt = new Float64Array(config.count);
  for (let i = 0; i < config.count; i++) {
    generation[i]++;
    clients[i]?.close();
    clients[i] = undefined;
  }
  for (let i = 0; i < config.count; i++) {
    if (epochs[i] === undefined) {
      reconnectFailed++;
      reconnectError ??= `subscriber ${config.first + i}: no position to resume from`;
      continue;
    }
    const opening = connectFn(clientOptions(i, { epoch: epochs[i], offset: offsets[i] }));
    const gen = generation[i];
    withTimeout(opening, config.connectTimeoutMs).then(
      (client) => {
        if (generation[i] !== gen || closing) return client.close();
        clients[i] = client;
        resumedAt[i] = now();
      },
      (error: Error) => {
        reconnectFailed++;
        reconnectError ??= `subscriber ${config.first + i}: ${error.message}`;
        opening.then((client) => client.close()).catch(() => {});
      },
    );
  }
}

function reconnectReport(): LoadReport['reconnect'] {
  if (droppedAt === 0) return undefined;
  const since = (at: number) => (at === 0 ? -1 : Math.round((at - droppedAt) * 100) / 100);
  return {
    resumedMs: Array.from(resumedAt, since),
    catchUpMs: Array.from(caughtUpAt, since),
    failed: reconnectFailed,
    firstError: reconnectError,
  };
}

async function connectAll(connect: ConnectClient): Promise<void> {
  const started = performance.now();
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  // Batches keep the accept queue and the handshake CPU spike bounded when opening thousands.
  for (let from = 0; from < config.count; from += config.connectBatch) {
    const batch: Promise<void>[] = [];
    for (let i = from; i < Math.min(config.count, from + config.connectBatch); i++) {
      const opening = connect(clientOptions(i));
      batch.push(
        withTimeout(opening, config.connectTimeoutMs).then(
          (client) => {
            clients[i] = client;
            ok++;
          },
          (error: Error) => {
            failed++;
            firstError ??= error.message;
            // A late success must not leak a socket.
            opening.then((client) => client.close()).catch(() => {});
          },
        ),
      );
    }
    await Promise.all(batch);
  }
  send({ type: 'connected', ok, failed, ms: performance.now() - started, firstError });
}

function report(expected: number[]): LoadReport {
  let complete = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let total = 0;
  const problems: string[] = [...closeReasons];
  for (let i = 0; i < config.count; i++) {
    const c = (config.first + i) % config.channels.length;
    const want = expected[c];
    total += received[i];
    duplicates += late[i];
    outOfOrder += gaps[i];
    const distinct = received[i] - late[i];
    if (distinct < want) missing += want - distinct;
    const ok =
      distinct === want && last[i] === want && late[i] === 0 && gaps[i] === 0 && closedFlags[i] === 0;
    if (ok) complete++;
    else if (problems.length < 5) {
      problems.push(
        `subscriber ${config.first + i} (${config.channels[c]}): ${received[i]} received of ${want}, last ${last[i]}, ${late[i]} late/duplicate, ${gaps[i]} gaps${gaps[i] > 0 ? ` (first missed: ${firstGap[i]})` : ''}`,
      );
    }
  }
  const cpu = process.cpuUsage();
  return {
    subscribers: config.count,
    received: total,
    complete,
    missing,
    duplicates,
    outOfOrder,
    closed,
    problems,
    latency: latency.toJSON(),
    lastReceivedAt,
    cpuUs: cpu.user + cpu.system - cpuStart,
    rss: process.memoryUsage().rss,
    reconnect: reconnectReport(),
    broadcast: config.broadcast
      ? { sent: Array.from(broadcastSent, (v) => v ?? 0), lastAt: Array.from(broadcastLastAt, (v) => v ?? 0) }
      : undefined,
  };
}

let lastProgress = '';
function progress(): void {
  const key = `${delivered}/${primed}/${closed}/${caughtUp}`;
  if (key === lastProgress) return;
  lastProgress = key;
  send({ type: 'progress', delivered, primed, closed, caughtUp });
}

async function handle(message: ToLoad): Promise<void> {
  switch (message.type) {
    case 'start': {
      config = message.config;
      last = new Int32Array(config.count);
      received = new Uint32Array(config.count);
      late = new Uint32Array(config.count);
      gaps = new Uint32Array(config.count);
      firstGap = new Uint32Array(config.count);
      primedFlags = new Uint8Array(config.count);
      closedFlags = new Uint8Array(config.count);
      generation = new Uint32Array(config.count);
      epochs = new Array(config.count);
      offsets = new Float64Array(config.count);
      connectFn = await findTarget(config.target).client();
      setInterval(progress, 10);
      await connectAll(connectFn);
      break;
    }
    case 'measure': {
      latency.reset();
      const cpu = process.cpuUsage();
      cpuStart = cpu.user + cpu.system;
      break;
    }
    case 'drop':
      dropAll();
      break;
    case 'report':
      send({ type: 'report', ...report(message.expected) });
      break;
    case 'close':
      closing = true;
      for (const client of clients) client?.close();
      process.exit(0);
  }
}

process.on('disconnect', () => process.exit(1));
process.on('message', (message: ToLoad) => {
  handle(message).catch((error: Error) => send({ type: 'failed', reason: error.stack ?? error.message }));
});
