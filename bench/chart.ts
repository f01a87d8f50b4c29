import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { TargetResult } from './lib/result.js';
import { RESULTS_DIR } from './lib/results-file.js';
import { type Panel, renderSvg, type Series } from './lib/svg-chart.js';

/**
 * `npm run chart --workspace bench -- [--scenario fanout] [--quietest] [--out FILE] [results.jsonl …]`: delivered msgs/s
 * and p99 latency against subscriber count, one line per target, one row of panels per publish rate.
 * Reads every bench/results/*.jsonl by default; for a repeated (target, rate, subs) the latest run wins,
 * or with --quietest the one that ran on the least busy machine (lowest load average). Failed runs are
 * not results and are left out.
 */
const COLORS: Record<string, string> = {
  ws: '#555555',
  socketio: '#e67e22',
  sse: '#3498db',
  'tidings-ws': '#27ae60',
  'tidings-sse': '#8e44ad',
  'tidings-stream': '#c0392b',
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scenario: { type: 'string', default: 'fanout' },
    out: { type: 'string' },
    quietest: { type: 'boolean', default: false },
  },
});
const scenario = values.scenario;
const files =
  positionals.length > 0
    ? positionals
    : readdirSync(RESULTS_DIR)
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => join(RESULTS_DIR, f));

const chosen = new Map<string, TargetResult>();
for (const file of files) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as TargetResult;
    if (r.scenario !== scenario || r.status !== 'ok' || r.deliveredPerSec === undefined) continue;
    // A --write-delay sweep: each delay is its own line.
    if (r.writeDelayMs !== undefined) r.target = `${r.target}@${r.writeDelayMs}ms`;
    const key = `${r.target}|${r.rate}|${r.subs}`;
    const previous = chosen.get(key);
    const better = values.quietest
      ? (r.loadAvg1 ?? Number.POSITIVE_INFINITY) < (previous?.loadAvg1 ?? Number.POSITIVE_INFINITY)
      : previous === undefined || previous.runId <= r.runId;
    if (!previous || better) chosen.set(key, r);
  }
}
const results = [...chosen.values()];
if (results.length === 0) {
  console.error(`no successful "${scenario}" results in ${files.join(', ')}`);
  process.exit(1);
}

const rates = [...new Set(results.map((r) => r.rate))].sort((a, b) => (a === 0 ? 1 : b === 0 ? -1 : a - b));
const targets = [...new Set(results.map((r) => r.target))];
const legend = new Map(targets.map((t) => [t, COLORS[t] ?? '#999999']));
const spread = (r: TargetResult[]) => Math.max(...r.map((x) => x.subs)) / Math.min(...r.map((x) => x.subs));

const panels: Panel[] = [];
for (const rate of rates) {
  const atRate = results.filter((r) => r.rate === rate);
  const label = rate === 0 ? 'max rate' : `${rate} msg/s`;
  const series = (pick: (r: TargetResult) => number): Series[] =>
    targets.map((t) => ({
      name: t,
      color: legend.get(t) ?? '#999999',
      points: atRate.filter((r) => r.target === t).map((r) => ({ x: r.subs, y: pick(r) })),
    }));
  const xLog = spread(atRate) >= 10;
  panels.push({
    title: `delivered msgs/s (${label})`,
    xLabel: 'subscribers',
    yLabel: 'deliveries / s',
    xLog,
    yLog: false,
    series: series((r) => r.deliveredPerSec ?? 0),
  });
  panels.push({
    title: `p99 latency (${label})`,
    xLabel: 'subscribers',
    yLabel: 'p99 ms',
    xLog,
    yLog: true,
    series: series((r) => r.latencyMs?.p99 ?? 0),
  });
}

const machine = results[0].machine;
const title = `Tidings bench: ${scenario}${machine ? ` (${machine.nproc} CPU ${machine.cpu}, node ${machine.node})` : ''}`;
const out = values.out ?? join(RESULTS_DIR, `${scenario}.svg`);
writeFileSync(out, renderSvg(title, panels, 2, legend));
console.log(`wrote ${out} (${results.length} results, ${targets.length} targets, ${rates.length} rates)`);
