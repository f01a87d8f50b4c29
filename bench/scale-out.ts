// Scale-out benchmark: publish throughput and end-to-end delivery latency with each engine, the
// publisher in one server process and the subscribers split across two (memory: one process, as the
// reference). Every subscriber is checked for exactly 1..N in order.
//
//   npx tsx bench/scale-out.ts [--engines memory,redis,nats] [--subs 200] [--rate 200]
//                              [--seconds 5] [--payload 100] [--window 20000] [--repeat 1]
//
// Each run prints one JSON line (stdout) as it finishes, then a table: with --repeat N, the median of
// each column over the N runs (and the fewest complete subscribers), since a shared machine is noisy.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { type EngineConfig, type ServerProcess, startServerProcesses, waitFor } from '@tidings/testing';
import { Redis } from 'ioredis';
import { Child } from './lib/child.js';
import { mergeHistograms, quantileMs } from './lib/histogram.js';
import type { FromLoad, LoadReport, Progress, ToLoad } from './lib/ipc.js';
import { now } from './lib/payload.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const NATS_URL = '127.0.0.1:4222';
const ENGINES = ['memory', 'redis', 'nats'] as const;
type EngineKind = (typeof ENGINES)[number];

interface Options {
  engines: EngineKind[];
  subs: number;
  rate: number;
  seconds: number;
  payload: number;
  window: number;
  repeat: number;
}

interface RunResult {
  bench: 'scale-out';
  engine: EngineKind;
  processes: number;
  subscribers: number;
  /** Target messages/s; 0 = as fast as delivery keeps up. */
  rate: number;
  seconds: number;
  payloadBytes: number;
  published: number;
  publishErrors: number;
  /** Messages published per second (first publish to last acknowledgement). */
  publishPerSec: number;
  /** Deliveries per second (first publish to last delivery). */
  deliveriesPerSec: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** CPU use of each server process over the run (publisher's first), % of one core. */
  serverCpuPct: number[];
  /** Subscribers that received exactly 1..published, in order. */
  complete: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  problems: string[];
  loadAvg1m: number;
  at: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: 'string', default: ENGINES.join(',') },
      subs: { type: 'string', default: '200' },
      rate: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '5' },
      payload: { type: 'string', default: '100' },
      window: { type: 'string', default: '20000' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const engines = values.engines.split(',').map((e) => e.trim()) as EngineKind[];
  for (const engine of engines) if (!ENGINES.includes(engine)) throw new Error(`unknown engine ${engine}`);
  const number = (name: keyof typeof values) => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: not a number ≥ 0`);
    return value;
  };
  const seconds = number('seconds');
  if (seconds <= 0 || seconds > 10) throw new Error('--seconds: from 0 to 10');
  return {
    engines,
    subs: Math.max(2, Math.round(number('subs'))),
    rate: number('rate'),
    seconds,
    payload: number('payload'),
    window: number('window'),
    repeat: Math.max(1, Math.round(number('repeat'))),
  };
}

/** Why an engine cannot run here, or null. */
async function unavailable(engine: EngineKind): Promise<string | null> {
  try {
    if (engine === 'redis') {
      const redis = new Redis(REDIS_URL, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        await redis.ping();
      } finally {
        redis.disconnect();
      }
    } else if (engine === 'nats') {
      const nc = await natsConnect({ servers: NATS_URL, timeout: 1_000, reconnect: false });
      try {
        await (await jetstreamManager(nc, { timeout: 1_000 })).getAccountInfo();
      } finally {
        await nc.close();
      }
    }
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** An engine config of its own for one run, and how to remove what it leaves behind. */
function engineFor(engine: EngineKind): { config: EngineConfig; cleanup(): Promise<void> } {
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  if (engine === 'redis') {
    const prefix = `tidings-bench:${tag}:`;
    return {
      config: { kind: 'redis', prefix },
      async cleanup() {
        const redis = new Redis(REDIS_URL);
        try {
          let cursor = '0';
          do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
            cursor = next;
            if (keys.length > 0) await redis.del(...keys);
          } while (cursor !== '0');
        } finally {
          await redis.quit();
        }
      },
    };
  }
  if (engine === 'nats') {
    const stream = `TIDINGS_BENCH_${tag}`;
    return {
      config: { kind: 'nats', stream, subjectPrefix: `tb_${tag}`, servers: NATS_URL },
      async cleanup() {
        const nc = await natsConnect({ servers: NATS_URL, timeout: 2_000, reconnect: false });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          for (const name of [stream, `${stream}_SNAP`]) await jsm.streams.delete(name).catch(() => false);
        } finally {
          await nc.close();
        }
      },
    };
  }
  return { config: { kind: 'memory' }, cleanup: async () => {} };
}

async function run(engine: EngineKind, rate: number, options: Options): Promise<RunResult> {
  const { config, cleanup } = engineFor(engine);
  const channel = 'bench.scale-out';
  const processCount = engine === 'memory' ? 1 : 2;
  const servers: ServerProcess[] = [];
  const loads: Child<ToLoad, FromLoad>[] = [];
  try {
    servers.push(
      ...(await startServerProcesses(processCount, { engine: config, label: engine, heartbeatMs: 25_000 })),
    );
    const publisher = servers[0];
    // Create the channel first so that every process subscribes to the same epoch.
    await publisher.position(channel);

    const progress: Progress[] = [];
    const delivered = () => progress.reduce((sum, p) => sum + (p?.delivered ?? 0), 0);
    const primed = () => progress.reduce((sum, p) => sum + (p?.primed ?? 0), 0);
    const half = Math.ceil(options.subs / 2);
    for (let i = 0; i < 2; i++) {
      const load = new Child<ToLoad, FromLoad>(`load-${i}`, new URL('./procs/load-proc.ts', import.meta.url));
      loads.push(load);
      load.on('progress', (p) => {
        progress[i] = p;
        publisher.credit(delivered());
      });
    }
    const connected = await Promise.all(
      loads.map((load, i) =>
        load.request(
          {
            type: 'start',
            config: {
              target: 'tidings-ws',
              // Half the subscribers on each process (both on the one memory process).
              port: servers[i % servers.length].port,
              channels: [channel],
              first: i * half,
              count: i === 0 ? half : options.subs - half,
              connectBatch: 50,
              connectTimeoutMs: 10_000,
            },
          },
          'connected',
          30_000,
        ),
      ),
    );
    const failed = connected.reduce((sum, c) => sum + c.failed, 0);
    if (failed > 0) throw new Error(`${failed} subscribers failed to connect: ${connected[0].firstError}`);

    // Liveness proof: each subscriber has received a message (n = 0, not counted) through its process.
    await waitFor(
      async () => {
        if (primed() >= options.subs) return true;
        await publisher.publish(channel, { n: 0, sent: now(), pad: '' });
        await new Promise((resolve) => setTimeout(resolve, 50));
        return false;
      },
      20_000,
      'every subscriber primed',
    );
    for (const load of loads) load.send({ type: 'measure' });
    const base = delivered();
    const cpuBefore = await Promise.all(servers.map((s) => s.stats()));
    const startedMono = performance.now();
    const outcome = await publisher.load({
      channel,
      rate,
      seconds: options.seconds,
      window: options.window,
      fanOut: options.subs,
      payloadBytes: options.payload,
    });
    const want = base + outcome.published * options.subs;
    await waitFor(() => delivered() >= want, 10_000, 'every delivery').catch(() => undefined);
    const lastDelivery = now();
    const cpuAfter = await Promise.all(servers.map((s) => s.stats()));
    const elapsedUs = (performance.now() - startedMono) * 1000;
    const reports = (await Promise.all(
      loads.map((load) => load.request({ type: 'report', expected: [outcome.published] }, 'report', 10_000)),
    )) as LoadReport[];
    const latency = mergeHistograms(reports.map((r) => r.latency));
    const lastReceivedAt = Math.max(...reports.map((r) => r.lastReceivedAt), 0) || lastDelivery;
    const sum = (key: 'complete' | 'missing' | 'duplicates' | 'outOfOrder' | 'received') =>
      reports.reduce((total, r) => total + r[key], 0);
    const round = (value: number, digits = 2) => Number(value.toFixed(digits));
    return {
      bench: 'scale-out',
      engine,
      processes: processCount,
      subscribers: options.subs,
      rate,
      seconds: options.seconds,
      payloadBytes: options.payload,
      published: outcome.published,
      publishErrors: outcome.errors,
      publishPerSec: Math.round(outcome.published / ((outcome.endedAt - outcome.startedAt) / 1000)),
      deliveriesPerSec: Math.round(sum('received') / ((lastReceivedAt - outcome.startedAt) / 1000)),
      latencyP50Ms: round(quantileMs(latency, 0.5)),
      latencyP90Ms: round(quantileMs(latency, 0.9)),
      latencyP99Ms: round(quantileMs(latency, 0.99)),
      latencyMaxMs: round(latency.maxUs / 1000),
      ackP50Ms: round(outcome.ackP50),
      ackP99Ms: round(outcome.ackP99),
      serverCpuPct: cpuAfter.map((after, i) =>
        Math.round((100 * (after.cpuUs - cpuBefore[i].cpuUs)) / elapsedUs),
      ),
      complete: sum('complete'),
      missing: sum('missing'),
      duplicates: sum('duplicates'),
      outOfOrder: sum('outOfOrder'),
      problems: [
        ...(outcome.firstError ? [outcome.firstError] : []),
        ...reports.flatMap((r) => r.problems),
      ].slice(0, 5),
      loadAvg1m: round(loadavg()[0]),
      at: new Date().toISOString(),
    };
  } finally {
    await Promise.all(loads.map((load) => load.close({ type: 'close' }, 2_000)));
    await Promise.all(servers.map((server) => server.stop(3_000)));
    await cleanup().catch((error) => console.error(`cleanup of ${engine} failed:`, error));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One row per engine and rate: each number the median over the repeats, `complete` the worst. */
function medians(results: RunResult[]): RunResult[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = `${r.engine} ${r.rate}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((runs) => {
    const out = { ...runs[0] } as Record<string, unknown>;
    for (const [key, value] of Object.entries(runs[0])) {
      if (typeof value === 'number') out[key] = median(runs.map((r) => r[key as keyof RunResult] as number));
    }
    out.serverCpuPct = runs[0].serverCpuPct.map((_, i) => median(runs.map((r) => r.serverCpuPct[i])));
    out.complete = Math.min(...runs.map((r) => r.complete));
    return out as unknown as RunResult;
  });
}

function table(results: RunResult[]): string {
  const header = [
    'engine',
    'procs',
    'subs',
    'rate',
    'published/s',
    'deliveries/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'ack p50',
    'ack p99',
    'server CPU %',
    'complete',
  ];
  const rows = results.map((r) => [
    r.engine,
    String(r.processes),
    String(r.subscribers),
    r.rate === 0 ? 'max' : String(r.rate),
    String(r.publishPerSec),
    String(r.deliveriesPerSec),
    r.latencyP50Ms.toFixed(2),
    r.latencyP90Ms.toFixed(2),
    r.latencyP99Ms.toFixed(2),
    r.latencyMaxMs.toFixed(1),
    r.ackP50Ms.toFixed(2),
    r.ackP99Ms.toFixed(2),
    r.serverCpuPct.join(' + '),
    `${r.complete}/${r.subscribers}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const results: RunResult[] = [];
  for (const engine of options.engines) {
    const why = await unavailable(engine);
    if (why !== null) {
      console.error(`${engine}: skipped (${why})`);
      continue;
    }
    for (const rate of [options.rate, 0]) {
      for (let i = 0; i < options.repeat; i++) {
        console.error(
          `${engine}: ${rate === 0 ? 'max rate' : `${rate} msg/s`} for ${options.seconds} s, ${options.subs} subscribers`,
        );
        const result = await run(engine, rate, options);
        results.push(result);
        console.log(JSON.stringify(result));
      }
    }
  }
  if (options.repeat > 1) console.log(`\nmedians of ${options.repeat} runs each:`);
  console.log(`\n${table(medians(results))}`);
  const bad = results.filter((r) => r.complete !== r.subscribers || r.publishErrors > 0);
  for (const r of bad) console.error(`${r.engine} rate ${r.rate}: ${r.problems.join('; ') || 'incomplete'}`);
  return bad.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(2);
  },
);
