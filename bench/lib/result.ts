/** One target's outcome in one run: the JSON line written per target. */
export interface TargetResult {
  runId: string;
  scenario: string;
  target: string;
  /** `failed` means the figures are not a result: a subscriber lost, repeated or reordered messages, or the run broke. */
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  subs: number;
  channels: number;
  /** Target publish rate, msgs/s over all channels; 0 = max. */
  rate: number;
  seconds: number;
  loadProcs: number;
  payloadBytes: number;
  /** Tidings targets: the server's `writeDelayMs` in effect (`--write-delay`, or its default). */
  writeDelayMs?: number;
  connectMs?: number;
  published?: number;
  /** Deliveries every subscriber should have had: Σ published(channel) × subscribers(channel). */
  expected?: number;
  /** Messages received (n ≥ 1), duplicates included. */
  received?: number;
  missing?: number;
  duplicates?: number;
  outOfOrder?: number;
  /** Deliveries per second, from the first publish to the last delivery. */
  deliveredPerSec?: number;
  /** Fixed-rate runs: false when deliveries fell more than 10% behind rate × subscribers ÷ channels (a saturated machine). */
  keptUp?: boolean;
  /** Publishes per second actually achieved. */
  publishedPerSec?: number;
  latencyMs?: { p50: number; p90: number; p99: number; max: number; mean: number };
  serverCpuUsPerMsg?: number;
  /** Write system calls (write, writev) of the server process in the window ÷ deliveries (Linux only). */
  serverWritesPerMsg?: number;
  /** Read system calls of the server process in the window ÷ deliveries (Linux only). */
  serverReadsPerMsg?: number;
  serverCpuPct?: number;
  serverRssMb?: number;
  serverRssStartMb?: number;
  loadCpuPct?: number;
  idle?: { rssPerConnKb: number; heapPerConnKb: number; serverCpuPct: number };
  reconnect?: ReconnectFigures;
  broadcast?: BroadcastFigures;
  /** This target's figures divided by the same figures of `ws` / `socketio` in the same run. */
  ratios?: Record<string, Ratios>;
  problems?: string[];
  /** 1-minute load average just before this target ran (other work on the machine skews the figures). */
  loadAvg1?: number;
  machine?: Machine;
}

/** Reconnect scenario: times from the drop, over every subscriber (see docs/BENCHMARKS.md). */
export interface ReconnectFigures {
  /** Drop → resumed subscription accepted. */
  resumedMs: { p50: number; p99: number; max: number };
  /** Drop → first message published after that acceptance received: caught up. `max` = all caught up. */
  catchUpMs: { p50: number; p99: number; max: number };
  caughtUp: number;
  reconnectFailed: number;
  /** Drop → every subscriber caught up, as seen by the orchestrator (10 ms progress reports). */
  windowMs: number;
  /** Server CPU time during that window, and as % of one core. */
  serverCpuMs: number;
  serverCpuPct: number;
}

/** Broadcast scenario: each message published alone, timed until its last subscriber had it. */
export interface BroadcastFigures {
  repeats: number;
  /** Publish → the last subscriber received it, ms, over the repeats. */
  lastMs: { p50: number; max: number; min: number };
  /** Server CPU time over the window ÷ broadcasts, ms (includes the idle pauses between them). */
  serverCpuMsPerBroadcast: number;
}

export interface Ratios {
  deliveredPerSec?: number;
  serverCpuUsPerMsg?: number;
  p99?: number;
  serverRssMb?: number;
  rssPerConnKb?: number;
  heapPerConnKb?: number;
  broadcastMs?: number;
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  platform: string;
  commit?: string;
}

/** `sse` is the peer of the Tidings SSE and stream targets, as `ws` is of tidings-ws. */
const BASELINES = ['ws', 'socketio', 'sse', 'socketio-polling'];

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return undefined;
  return Math.round((a / b) * 100) / 100;
}

/** Fills `ratios` of every ok result against the baselines that also succeeded in the same run. */
export function addRatios(results: TargetResult[]): void {
  for (const base of BASELINES) {
    const b = results.find((r) => r.target === base && r.status === 'ok');
    if (!b) continue;
    for (const r of results) {
      if (r.status !== 'ok' || r === b) continue;
      r.ratios ??= {};
      r.ratios[`vs_${base}`] = {
        deliveredPerSec: ratio(r.deliveredPerSec, b.deliveredPerSec),
        serverCpuUsPerMsg: ratio(r.serverCpuUsPerMsg, b.serverCpuUsPerMsg),
        p99: ratio(r.latencyMs?.p99, b.latencyMs?.p99),
        serverRssMb: ratio(r.serverRssMb, b.serverRssMb),
        rssPerConnKb: ratio(r.idle?.rssPerConnKb, b.idle?.rssPerConnKb),
        heapPerConnKb: ratio(r.idle?.heapPerConnKb, b.idle?.heapPerConnKb),
        broadcastMs: ratio(r.broadcast?.lastMs.p50, b.broadcast?.lastMs.p50),
      };
    }
  }
}
