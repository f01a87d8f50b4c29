import type { Scenario } from '../scenarios/scenario.js';
import { subscribersPerChannel } from '../scenarios/scenario.js';
import type { Target } from '../targets/target.js';
import { Child } from './child.js';
import { mergeHistograms, quantileMs } from './histogram.js';
import type { FromLoad, FromServer, LoadReport, Progress, ServerSample, ToLoad, ToServer } from './ipc.js';
import type { BroadcastFigures, ReconnectFigures, TargetResult } from './result.js';

export interface RunOptions {
  runId: string;
  loadProcs: number;
  payloadBytes: number;
  /** Longest wait for the last deliveries after publishing stops, ms. */
  drainMs: number;
  /** Deliveries in flight at rate 0. */
  window: number;
  connectBatch: number;
  /** Extra node flags for the server process (`--cpu-prof`, …). */
  serverNodeArgs?: string[];
  /** See PublishPlan.dropEvery: only for testing that losses are caught. */
  dropEvery?: number;
  /** Tidings targets: the server's `writeDelayMs` (unset: its default). */
  writeDelayMs?: number;
}

const SERVER_SCRIPT = new URL('../procs/server-proc.ts', import.meta.url);
const LOAD_SCRIPT = new URL('../procs/load-proc.ts', import.meta.url);
const PRIME_EVERY_MS = 200;
/** Priming may take this long; 19,000 connections on a busy 2-core machine need more than 10 s. */
const primeTimeoutMs = (subs: number) => Math.max(10_000, subs * 2);
/** Broadcast scenario: longest wait for one message to reach every subscriber, and the pause after. */
const BROADCAST_TIMEOUT_MS = 30_000;
const BROADCAST_GAP_MS = 250;
/** Process age by which V8 and the allocator have returned start-up memory (measured: 6-8 s). */
const SETTLED_UPTIME_S = 9;

type ServerChild = Child<ToServer, FromServer>;
type LoadChild = Child<ToLoad, FromLoad>;
interface Stoppable {
  close(): Promise<void>;
  kill(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

class RunFailure extends Error {
  constructor(
    reason: string,
    readonly details: Partial<TargetResult> = {},
  ) {
    super(reason);
  }
}

/** Hard limit on one target's run: connecting, priming, publishing, draining and reporting together. */
function budgetMs(scenario: Scenario, options: RunOptions): number {
  const broadcasts = (scenario.repeats ?? 0) * (BROADCAST_GAP_MS + 2_000);
  return (
    20_000 +
    scenario.subs * 10 +
    primeTimeoutMs(scenario.subs) +
    scenario.seconds * 1000 +
    options.drainMs +
    broadcasts
  );
}

/** Runs one scenario against one target in fresh processes, and always stops them before returning. */
export async function runTarget(
  target: Target,
  scenario: Scenario,
  options: RunOptions,
): Promise<TargetResult> {
  const base: TargetResult = {
    runId: options.runId,
    scenario: scenario.name,
    target: target.name,
    status: 'ok',
    subs: scenario.subs,
    channels: scenario.channels.length,
    rate: scenario.rate,
    seconds: scenario.seconds,
    loadProcs: Math.min(options.loadProcs, scenario.subs),
    payloadBytes: options.payloadBytes,
    ...(target.tidings && options.writeDelayMs !== undefined && { writeDelayMs: options.writeDelayMs }),
  };
  if (scenario.tidingsOnly && !target.tidings)
    return { ...base, status: 'skipped', reason: 'Tidings-only scenario' };
  const unavailable = await target.unavailable();
  if (unavailable) return { ...base, status: 'skipped', reason: unavailable };

  const children: Stoppable[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        for (const child of children) child.kill();
        reject(new RunFailure(`timed out after ${budgetMs(scenario, options)} ms`));
      },
      budgetMs(scenario, options),
    );
  });
  try {
    return await Promise.race([measure(target, scenario, options, base, children), deadline]);
  } catch (error) {
    const failure = error instanceof RunFailure ? error : new RunFailure((error as Error).message);
    return { ...base, ...failure.details, status: 'failed', reason: failure.message };
  } finally {
    clearTimeout(timer);
    await Promise.all(children.map((child) => child.close()));
  }
}

async function measure(
  target: Target,
  scenario: Scenario,
  options: RunOptions,
  base: TargetResult,
  children: Stoppable[],
): Promise<TargetResult> {
  const server: ServerChild = new Child('server', SERVER_SCRIPT, options.serverNodeArgs);
  children.push({ close: () => server.close({ type: 'close' }), kill: () => server.kill() });

  // Load processes boot (tsx, imports) while the server starts; they get their config once it listens.
  const loads: LoadChild[] = [];
  const progress: Progress[] = [];
  const watchers = new Set<() => void>();
  for (let p = 0; p < base.loadProcs; p++) {
    const load: LoadChild = new Child(`load${p}`, LOAD_SCRIPT);
    children.push({ close: () => load.close({ type: 'close' }), kill: () => load.kill() });
    loads.push(load);
    progress.push({ delivered: 0, primed: 0, closed: 0, caughtUp: 0 });
    load.on('progress', (message) => {
      progress[p] = message;
      for (const watcher of watchers) watcher();
    });
  }
  const total = (key: keyof Progress) => progress.reduce((sum, p) => sum + p[key], 0);
  /** Resolves true once `done()` holds (checked on every progress report), false after `timeoutMs`. */
  const until = (done: () => boolean, timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        watchers.delete(check);
        resolve(value);
      };
      const check = () => done() && finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      watchers.add(check);
      check();
    });

  const started = await server.request(
    { type: 'start', target: target.name, writeDelayMs: base.writeDelayMs },
    ['listening', 'unavailable'],
    20_000,
  );
  if (started.type === 'unavailable') return { ...base, status: 'skipped', reason: started.reason };
  // The delay in effect, asked for or the server's default.
  if (started.writeDelayMs !== undefined) base.writeDelayMs = started.writeDelayMs;
  const idle = scenario.mode === 'idle';
  let empty = await server.request({ type: 'sample', gc: true }, 'sample', 10_000);
  if (idle && empty.uptime < SETTLED_UPTIME_S) {
    // RSS per connection is a small difference of two large numbers, and a fresh process gives back
    // ~8 MB of start-up heap (tsx compiling the target) during its first seconds: measure from after that.
    await sleep((SETTLED_UPTIME_S - empty.uptime) * 1000);
    empty = await server.request({ type: 'sample', gc: true }, 'sample', 10_000);
  }

  // Subscribers, split into contiguous ranges over the load processes.
  const connected = await Promise.all(
    loads.map((load, p) => {
      const first = Math.floor((scenario.subs * p) / loads.length);
      const count = Math.floor((scenario.subs * (p + 1)) / loads.length) - first;
      const config = {
        target: target.name,
        port: started.port,
        channels: scenario.channels,
        first,
        count,
        connectBatch: options.connectBatch,
        connectTimeoutMs: 10_000,
        broadcast: scenario.mode === 'broadcast',
      };
      return load.request({ type: 'start', config }, 'connected', 20_000 + scenario.subs * 5);
    }),
  );
  const failed = connected.reduce((sum, c) => sum + c.failed, 0);
  const connectMs = Math.round(Math.max(...connected.map((c) => c.ms)));
  if (failed > 0) {
    const firstError = connected.find((c) => c.firstError)?.firstError;
    throw new RunFailure(`${failed} of ${scenario.subs} subscribers failed to connect: ${firstError}`, {
      connectMs,
    });
  }

  // Priming proves every subscription is live end to end before anything is measured, whatever each
  // transport considers "connected" (an HTTP 200 may come before the hub has subscribed).
  const primeUntil = performance.now() + primeTimeoutMs(scenario.subs);
  for (;;) {
    server.send({ type: 'prime', channels: scenario.channels });
    if (await until(() => total('primed') >= scenario.subs, PRIME_EVERY_MS)) break;
    if (performance.now() > primeUntil) {
      throw new RunFailure(`only ${total('primed')} of ${scenario.subs} subscribers live after priming`, {
        connectMs,
      });
    }
  }
  // Lets primes still in flight land, so they never share the measured window.
  await sleep(idle ? 1_000 : 100);

  const before = await server.request({ type: 'sample', gc: idle }, 'sample', 10_000);
  for (const load of loads) load.send({ type: 'measure' });
  const subsPerChannel = subscribersPerChannel(scenario);
  let perChannel = scenario.channels.map(() => 0);
  let publishedPerSec: number | undefined;
  let startedAt = 0;
  let reconnectWindow: Promise<ReconnectWindow> | undefined;

  if (scenario.mode === 'broadcast') {
    // One message at a time, each on its own: published, then awaited at every subscriber.
    const repeats = scenario.repeats ?? 1;
    const channel = scenario.channels[0] as string;
    startedAt = performance.timeOrigin + performance.now();
    for (let n = 1; n <= repeats; n++) {
      server.send({ type: 'broadcast', channel, n, payloadBytes: options.payloadBytes });
      const all = n * scenario.subs;
      if (!(await until(() => total('delivered') >= all || total('closed') > 0, BROADCAST_TIMEOUT_MS))) {
        const got = total('delivered') - (n - 1) * scenario.subs;
        throw new RunFailure(
          `broadcast ${n}: ${got} of ${scenario.subs} subscribers had it after ${BROADCAST_TIMEOUT_MS} ms`,
          { connectMs },
        );
      }
      await sleep(BROADCAST_GAP_MS);
    }
    perChannel = [repeats];
  } else if (!idle) {
    // Only the paced publisher needs credit; at a fixed rate the IPC would only add server CPU.
    const credit = () => server.send({ type: 'credit', delivered: total('delivered') });
    if (scenario.rate === 0) watchers.add(credit);
    const plan = {
      channels: scenario.channels,
      subscribers: subsPerChannel,
      rate: scenario.rate,
      seconds: scenario.seconds,
      window: options.window,
      payloadBytes: options.payloadBytes,
      dropEvery: options.dropEvery,
    };
    const publishing = server.request({ type: 'run', plan }, 'published', scenario.seconds * 1000 + 30_000);
    const dropAt = scenario.dropAt;
    if (dropAt !== undefined) {
      // Runs beside the publisher: drop everyone at `dropAt` of the run, then wait for all to catch up.
      reconnectWindow = (async () => {
        await sleep(scenario.seconds * 1000 * dropAt);
        const sampling = server.request({ type: 'sample', gc: false }, 'sample', 10_000);
        for (const load of loads) load.send({ type: 'drop' });
        const atDrop = await sampling;
        const remainingMs = scenario.seconds * 1000 * (1 - dropAt) + options.drainMs;
        const allCaughtUp = await until(() => total('caughtUp') >= scenario.subs, remainingMs);
        const atCaughtUp = await server.request({ type: 'sample', gc: false }, 'sample', 10_000);
        return { atDrop, atCaughtUp, allCaughtUp };
      })();
      reconnectWindow.catch(() => {});
    }
    const published = await publishing;
    watchers.delete(credit);
    perChannel = published.perChannel;
    startedAt = published.startedAt;
    const count = perChannel.reduce((a, b) => a + b, 0);
    publishedPerSec = round(count / ((published.endedAt - published.startedAt) / 1000), 1);
    if (published.errors > 0) {
      throw new RunFailure(`${published.errors} publishes failed: ${published.firstError}`, { connectMs });
    }
    const expected = perChannel.reduce((sum, n, c) => sum + n * subsPerChannel[c], 0);
    await until(() => total('delivered') >= expected || total('closed') > 0, options.drainMs);
  } else {
    await sleep(scenario.seconds * 1000);
  }

  const reconnected = await reconnectWindow;
  const after = await server.request({ type: 'sample', gc: idle }, 'sample', 30_000);
  const reports = await Promise.all(
    loads.map((load) => load.request({ type: 'report', expected: perChannel }, 'report', 30_000)),
  );
  return summarize(base, scenario, {
    empty,
    before,
    after,
    reports,
    perChannel,
    subsPerChannel,
    startedAt,
    connectMs,
    publishedPerSec,
    reconnected,
  });
}

interface ReconnectWindow {
  atDrop: ServerSample;
  atCaughtUp: ServerSample;
  allCaughtUp: boolean;
}

interface Measured {
  empty: ServerSample;
  before: ServerSample;
  after: ServerSample;
  reports: LoadReport[];
  perChannel: number[];
  subsPerChannel: number[];
  startedAt: number;
  connectMs: number;
  publishedPerSec: number | undefined;
  reconnected?: ReconnectWindow;
}

function summarize(base: TargetResult, scenario: Scenario, m: Measured): TargetResult {
  const sumOf = (
    key: 'received' | 'missing' | 'duplicates' | 'outOfOrder' | 'complete' | 'closed' | 'cpuUs',
  ) => m.reports.reduce((sum, r) => sum + r[key], 0);
  const windowMs = m.after.at - m.before.at;
  const serverCpuUs = m.after.cpuUs - m.before.cpuUs;
  const loadCpuPct = round((sumOf('cpuUs') / (windowMs * 1000)) * 100, 1);
  const problems = m.reports.flatMap((r) => r.problems).slice(0, 5);
  const common = { connectMs: m.connectMs, serverRssMb: mb(m.after.rss), serverRssStartMb: mb(m.empty.rss) };

  if (scenario.mode === 'idle') {
    const closed = sumOf('closed');
    if (closed > 0) {
      return {
        ...base,
        ...common,
        status: 'failed',
        reason: `${closed} connections closed while idle`,
        problems,
      };
    }
    return {
      ...base,
      ...common,
      idle: {
        rssPerConnKb: round((m.after.rss - m.empty.rss) / 1024 / scenario.subs, 1),
        heapPerConnKb: round((m.after.heapUsed - m.empty.heapUsed) / 1024 / scenario.subs, 1),
        serverCpuPct: round((serverCpuUs / (windowMs * 1000)) * 100, 2),
      },
      loadCpuPct,
    };
  }

  const published = m.perChannel.reduce((a, b) => a + b, 0);
  const expected = m.perChannel.reduce((sum, n, c) => sum + n * m.subsPerChannel[c], 0);
  const received = sumOf('received');
  const counts = {
    published,
    expected,
    received,
    missing: sumOf('missing'),
    duplicates: sumOf('duplicates'),
    outOfOrder: sumOf('outOfOrder'),
    publishedPerSec: m.publishedPerSec,
  };
  const complete = sumOf('complete');
  const reconnect = m.reconnected && reconnectFigures(m.reconnected, m.reports);
  if (reconnect?.reason) {
    return {
      ...base,
      ...common,
      ...counts,
      status: 'failed',
      reason: reconnect.reason,
      problems,
      reconnect: reconnect.figures,
    };
  }
  if (complete !== scenario.subs || published === 0) {
    const reason =
      published === 0
        ? 'nothing was published'
        : `${scenario.subs - complete} of ${scenario.subs} subscribers did not get exactly 1..n: ` +
          `${counts.missing} missing, ${counts.duplicates} late/duplicate, ${counts.outOfOrder} gaps, ${sumOf('closed')} closed`;
    return {
      ...base,
      ...common,
      ...counts,
      status: 'failed',
      reason,
      problems,
      reconnect: reconnect?.figures,
    };
  }

  const latency = mergeHistograms(m.reports.map((r) => r.latency));
  const lastAt = Math.max(...m.reports.map((r) => r.lastReceivedAt));
  const deliveredPerSec = Math.round(expected / ((lastAt - m.startedAt) / 1000));
  // Everything arrived, but a fixed-rate figure only means something if the rate was actually held.
  const asked = (scenario.rate * scenario.subs) / scenario.channels.length;
  const keptUp = scenario.rate > 0 ? deliveredPerSec >= 0.9 * asked : undefined;
  return {
    ...base,
    ...common,
    ...counts,
    deliveredPerSec,
    keptUp,
    latencyMs: {
      p50: round(quantileMs(latency, 0.5), 3),
      p90: round(quantileMs(latency, 0.9), 3),
      p99: round(quantileMs(latency, 0.99), 3),
      max: round(latency.maxUs / 1000, 3),
      mean: round(latency.sumUs / latency.count / 1000, 3),
    },
    serverCpuUsPerMsg: round(serverCpuUs / expected, 3),
    serverWritesPerMsg: perDelivery(m.before.syscw, m.after.syscw, expected),
    serverReadsPerMsg: perDelivery(m.before.syscr, m.after.syscr, expected),
    serverCpuPct: round((serverCpuUs / (windowMs * 1000)) * 100, 1),
    loadCpuPct,
    reconnect: reconnect?.figures,
    broadcast: scenario.mode === 'broadcast' ? broadcastFigures(m.reports, serverCpuUs) : undefined,
  };
}

/**
 * Broadcast scenario: per message, its `sent` → the latest arrival of any copy in any load process
 * (clocks are one machine's). The CPU figure is the whole window's (gaps included, where the server
 * only idles) over the broadcasts.
 */
function broadcastFigures(reports: LoadReport[], serverCpuUs: number): BroadcastFigures {
  const count = Math.max(0, ...reports.map((r) => r.broadcast?.sent.length ?? 0));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const sent = Math.max(...reports.map((r) => r.broadcast?.sent[i] ?? 0));
    const last = Math.max(...reports.map((r) => r.broadcast?.lastAt[i] ?? 0));
    times.push(last - sent);
  }
  times.sort((a, b) => a - b);
  return {
    repeats: count,
    lastMs: {
      p50: round(quantile(times, 0.5), 1),
      max: round(times.at(-1) ?? Number.NaN, 1),
      min: round(times[0] ?? Number.NaN, 1),
    },
    serverCpuMsPerBroadcast: round(serverCpuUs / 1000 / Math.max(1, count), 1),
  };
}

/** A counter's growth over the window ÷ deliveries; undefined where the counter is not available. */
function perDelivery(before: number | undefined, after: number | undefined, deliveries: number) {
  return before === undefined || after === undefined ? undefined : round((after - before) / deliveries, 3);
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

/** Catch-up figures over every subscriber; a reason when some never resumed or never caught up. */
function reconnectFigures(
  window: ReconnectWindow,
  reports: LoadReport[],
): { figures: ReconnectFigures; reason?: string } {
  const resumed = reports.flatMap((r) => r.reconnect?.resumedMs ?? []);
  const catchUp = reports.flatMap((r) => r.reconnect?.catchUpMs ?? []);
  const failed = reports.reduce((sum, r) => sum + (r.reconnect?.failed ?? 0), 0);
  const firstError = reports.find((r) => r.reconnect?.firstError)?.reconnect?.firstError;
  const done = catchUp.filter((ms) => ms >= 0).sort((a, b) => a - b);
  const back = resumed.filter((ms) => ms >= 0).sort((a, b) => a - b);
  const ms = window.atCaughtUp.at - window.atDrop.at;
  const cpuUs = window.atCaughtUp.cpuUs - window.atDrop.cpuUs;
  const figures: ReconnectFigures = {
    resumedMs: { p50: quantile(back, 0.5), p99: quantile(back, 0.99), max: back.at(-1) ?? Number.NaN },
    catchUpMs: { p50: quantile(done, 0.5), p99: quantile(done, 0.99), max: done.at(-1) ?? Number.NaN },
    caughtUp: done.length,
    reconnectFailed: failed,
    windowMs: round(ms, 1),
    serverCpuMs: round(cpuUs / 1000, 1),
    serverCpuPct: round((cpuUs / (ms * 1000)) * 100, 1),
  };
  const notCaughtUp = reports.reduce((sum, r) => sum + r.subscribers, 0) - done.length;
  if (failed > 0 || notCaughtUp > 0 || !window.allCaughtUp) {
    return {
      figures,
      reason:
        `${notCaughtUp} subscribers did not catch up after the drop` +
        (failed > 0 ? `, ${failed} failed to reconnect: ${firstError}` : ''),
    };
  }
  return { figures };
}
