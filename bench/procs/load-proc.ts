import { Histogram } from '../lib/histogram.js';
import type { FromLoad, LoadConfig, LoadReport, ToLoad } from '../lib/ipc.js';
import { now } from '../lib/payload.js';
import { findTarget } from '../targets/index.js';
import type { BenchClient, ConnectClient } from '../targets/target.js';

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
  received[i]++;
  latency.record(at - sent);
  lastReceivedAt = at;
  const expectedNext = last[i] + 1;
  if (n === expectedNext) {
    last[i] = n;
    delivered++;
  } else if (n > expectedNext) {
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

async function connectAll(connect: ConnectClient): Promise<void> {
  const started = performance.now();
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  // Batches keep the accept queue and the handshake CPU spike bounded when opening thousands.
  for (let from = 0; from < config.count; from += config.connectBatch) {
    const batch: Promise<void>[] = [];
    for (let i = from; i < Math.min(config.count, from + config.connectBatch); i++) {
      const channel = config.channels[(config.first + i) % config.channels.length];
      const opening = connect({
        port: config.port,
        channel,
        onMessage: (n, sent) => onMessage(i, n, sent),
        onClose: (reason) => onClose(i, reason),
      });
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
        `subscriber ${config.first + i} (${config.channels[c]}): ${received[i]} received of ${want}, last ${last[i]}, ${late[i]} late/duplicate, ${gaps[i]} gaps`,
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
  };
}

let lastProgress = '';
function progress(): void {
  const key = `${delivered}/${primed}/${closed}`;
  if (key === lastProgress) return;
  lastProgress = key;
  send({ type: 'progress', delivered, primed, closed });
}

async function handle(message: ToLoad): Promise<void> {
  switch (message.type) {
    case 'start': {
      config = message.config;
      last = new Int32Array(config.count);
      received = new Uint32Array(config.count);
      late = new Uint32Array(config.count);
      gaps = new Uint32Array(config.count);
      primedFlags = new Uint8Array(config.count);
      closedFlags = new Uint8Array(config.count);
      const connect = await findTarget(config.target).client();
      setInterval(progress, 10);
      await connectAll(connect);
      break;
    }
    case 'measure': {
      latency.reset();
      const cpu = process.cpuUsage();
      cpuStart = cpu.user + cpu.system;
      break;
    }
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
