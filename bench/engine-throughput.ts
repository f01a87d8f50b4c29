// Engine throughput: how fast a hub publishes through the Redis and NATS engines, against the raw broker
// client doing the same broker work, in the same run. Each cell keeps `--concurrency` publishes in
// flight (an app publishing from many requests at once) for `--seconds`, on one channel or spread
// round-robin over 1,000:
//   - redis raw: ioredis EVALSHA of the engine's own publish script, with the arguments the engine
//     passes (the same keys, TTLs, stream append, trim and PUBLISH), on one connection;
//   - nats raw:  js.publish of the engine's headers to the engine's stream (same stream config, with its
//     republish), pipelined: no expected-sequence condition, since a raw client has no offsets to keep;
//   - hub:       createHub({ engine }) and hub.publish(channel, data).
// Reported: published/s, p50/p99 publish latency (call to resolve), and hub ÷ raw of the same run.
//
//   npm run engine-throughput --workspace bench -- [--engines redis,nats] [--channels 1,1000]
//                                                  [--seconds 3] [--concurrency 1000] [--payload 100]
//                                                  [--repeat 1] [--only raw|hub]
//
// Every run uses its own Redis key prefix and NATS stream, removed at the end. Prints one JSON line per
// row (stdout) as it finishes, then a markdown table.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { NatsEngine } from '@tidings/nats';
import { channelKeys, indexKey, pubsubChannel, RedisEngine } from '@tidings/redis';
import { createHub, DEFAULT_RETENTION } from '@tidings/server';
import { Redis } from 'ioredis';
import { encodeHeaders } from '../packages/nats/src/record.js';
import { type Commands, defineScripts } from '../packages/redis/src/scripts.js';
import { machine } from './lib/machine.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const NATS_URL = '127.0.0.1:4222';
const ENGINES = ['redis', 'nats'] as const;
type EngineKind = (typeof ENGINES)[number];

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: ENGINES.join(',') },
    channels: { type: 'string', default: '1,1000' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1000' },
    payload: { type: 'string', default: '100' },
    // Raw and hub cells alternate this many times; the table shows each side's median run.
    repeat: { type: 'string', default: '1' },
    // Run one side only (for --cpu-prof of the hub path): the other side's cells report zero.
    only: { type: 'string' },
    // Accepted for symmetry with the other benches: this one never writes a results file.
    'no-save': { type: 'boolean', default: false },
  },
});
const engines = values.engines.split(',').map((e) => {
  if (!(ENGINES as readonly string[]).includes(e)) throw new Error(`unknown engine ${e}`);
  return e as EngineKind;
});
const shapes = values.channels.split(',').map(Number);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const data = JSON.stringify({ text: 'x'.repeat(Math.max(0, Number(values.payload) - 11)) });
const policy = DEFAULT_RETENTION;
const repeat = Math.max(1, Number(values.repeat));
const only = values.only as 'raw' | 'hub' | undefined;
if (only !== undefined && only !== 'raw' && only !== 'hub') throw new Error('--only is raw or hub');
const EMPTY: Cell = { published: 0, errors: 0, perSec: 0, p50Ms: 0, p99Ms: 0, cpuUsPerPublish: 0 };

interface Cell {
  published: number;
  errors: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of this process (user + system) per publish, µs: less noisy than rates on a shared machine. */
  cpuUsPerPublish: number;
}

interface Row {
  bench: 'engine-throughput';
  engine: EngineKind;
  channels: number;
  concurrency: number;
  seconds: number;
  payloadBytes: number;
  raw: Cell;
  hub: Cell;
  /** hub published/s ÷ raw published/s. */
  ratio: number;
  commit: string | undefined;
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/**
 * Keeps `concurrency` calls of `op` in flight for `seconds` (each worker starts its next call when its
 * last resolves); `op(n)` gets a running count, used to pick the channel.
 */
async function drive(op: (n: number) => Promise<unknown>): Promise<Cell> {
  const latencies: number[] = [];
  let n = 0;
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const cpu = process.cpuUsage();
  const end = start + seconds * 1_000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await op(n++);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1_000;
  const used = process.cpuUsage(cpu);
  if (firstError !== undefined) console.error('first error:', firstError);
  const sorted = Float64Array.from(latencies).sort();
  return {
    published: latencies.length,
    errors,
    perSec: Math.round(latencies.length / elapsed),
    p50Ms: Number(quantile(sorted, 0.5).toFixed(2)),
    p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
    cpuUsPerPublish: Math.round((used.user + used.system) / Math.max(1, latencies.length)),
  };
}

/** Alternates raw and hub cells `repeat` times; each side's run with the median rate. */
async function alternate(
  raw: (n: number) => Promise<unknown>,
  hub: (n: number) => Promise<unknown>,
): Promise<{ raw: Cell; hub: Cell }> {
  const runs: { raw: Cell[]; hub: Cell[] } = { raw: [], hub: [] };
  for (let i = 0; i < repeat; i++) {
    runs.raw.push(only === 'hub' ? EMPTY : await drive(raw));
    runs.hub.push(only === 'raw' ? EMPTY : await drive(hub));
  }
  const median = (cells: Cell[]) =>
    [...cells].sort((a, b) => a.perSec - b.perSec)[Math.floor((cells.length - 1) / 2)] as Cell;
  return { raw: median(runs.raw), hub: median(runs.hub) };
}

/** One publish to every channel first (untimed): channel creation is not what this measures. */
async function warm(count: number, op: (n: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => op(i + j)));
  }
}

const channelName = (shape: number, n: number) => `bench.c${n % shape}`;

async function redisCells(shape: number, id: string): Promise<{ raw: Cell; hub: Cell }> {
  const prefix = `tidings-tp-${id}:`;
  // Raw: a plain connection with the same script, called with the arguments RedisEngine.publish passes.
  const raw = defineScripts(new Redis(REDIS_URL)) as Commands & Redis;
  const args = Array.from({ length: shape }, (_, c) => {
    const channel = channelName(shape, c);
    const keys = channelKeys(prefix, channel);
    return {
      keys: [keys.meta, keys.log, keys.snap, indexKey(prefix), keys.meta],
      channel,
      topic: pubsubChannel(prefix, channel),
    };
  });
  const epoch = randomBytes(8).toString('base64url');
  const rawPublish = (n: number) => {
    const a = args[n % shape] as (typeof args)[number];
    return raw.tidingsPublish(
      ...a.keys,
      a.channel,
      epoch,
      data,
      '',
      '',
      '',
      '',
      String(policy.size),
      String(policy.ttlMs),
      String(policy.idempotencyMs),
      a.topic,
      '300000',
      String(7 * 24 * 3_600_000),
      '',
    );
  };
  const engine = new RedisEngine({ url: REDIS_URL, prefix: `${prefix}hub:` });
  const hub = createHub({ engine });
  const hubPublish = (n: number) => hub.publish(channelName(shape, n), data);
  try {
    await engine.ready();
    await warm(shape, rawPublish);
    await warm(shape, hubPublish);
    return await alternate(rawPublish, hubPublish);
  } finally {
    await hub.close();
    await cleanRedis(raw, prefix);
    raw.disconnect();
  }
}

async function cleanRedis(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

async function natsCells(shape: number, id: string): Promise<{ raw: Cell; hub: Cell }> {
  const stream = `TIDINGS_TP_${id}`;
  const subjectPrefix = `tidings-tp-${id}`;
  // The engine creates its stream; the raw client publishes into it, to subjects the hub does not use.
  const engine = await NatsEngine.connect({ servers: NATS_URL, stream, subjectPrefix });
  const hub = createHub({ engine });
  // The engine's own connection option: without it every request builds two Errors for their stacks.
  const nc = await natsConnect({ servers: NATS_URL, noAsyncTraces: true });
  const js = jetstream(nc);
  const rawSubjects = Array.from({ length: shape }, (_, c) => `${subjectPrefix}.raw.c${c}`);
  const epoch = randomBytes(8).toString('base64url');
  let offset = 0;
  const rawPublish = (n: number) =>
    js.publish(rawSubjects[n % shape] as string, data, {
      headers: encodeHeaders({ epoch, offset: ++offset, ts: Date.now(), policy }),
    });
  const hubPublish = (n: number) => hub.publish(channelName(shape, n), data);
  try {
    await warm(shape, rawPublish);
    await warm(shape, hubPublish);
    return await alternate(rawPublish, hubPublish);
  } finally {
    await hub.close();
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, `${stream}_SNAP`, `${stream}_PRES`]) {
      await jsm.streams.delete(name).catch(() => false);
    }
    await nc.close();
  }
}

const m = machine();
console.error(
  `${m.nproc} × ${m.cpu}, Node ${m.node}, commit ${m.commit}, ${seconds} s per cell, ` +
    `${concurrency} in flight, ${data.length}-byte data, median of ${repeat}`,
);
const rows: Row[] = [];
for (const engine of engines) {
  for (const shape of shapes) {
    const id = randomBytes(4).toString('hex').toUpperCase();
    const { raw, hub } = engine === 'redis' ? await redisCells(shape, id) : await natsCells(shape, id);
    const row: Row = {
      bench: 'engine-throughput',
      engine,
      channels: shape,
      concurrency,
      seconds,
      payloadBytes: data.length,
      raw,
      hub,
      ratio: raw.perSec > 0 ? Number((hub.perSec / raw.perSec).toFixed(2)) : 0,
      commit: m.commit,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}

const fmt = (n: number) => n.toLocaleString('en');
console.log(
  '\n| engine | channels | raw /s | raw p50 / p99 ms | raw CPU µs | hub /s | hub p50 / p99 ms | hub CPU µs | hub ÷ raw |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
);
for (const r of rows) {
  const errors = r.raw.errors + r.hub.errors > 0 ? ` (errors: raw ${r.raw.errors}, hub ${r.hub.errors})` : '';
  console.log(
    `| ${r.engine} | ${fmt(r.channels)} | ${fmt(r.raw.perSec)} | ${r.raw.p50Ms} / ${r.raw.p99Ms} | ` +
      `${r.raw.cpuUsPerPublish} | ${fmt(r.hub.perSec)} | ${r.hub.p50Ms} / ${r.hub.p99Ms} | ` +
      `${r.hub.cpuUsPerPublish} | ${r.ratio.toFixed(2)}${errors} |`,
  );
}
