import { loadavg } from 'node:os';
import { scenarios } from '../scenarios/index.js';
import { targets as allTargets, findTarget } from '../targets/index.js';
import { killAllChildren } from './child.js';
import { machine, openFileLimit } from './machine.js';
import { addRatios, type TargetResult } from './result.js';
import { appendResults } from './results-file.js';
import { type RunOptions, runTarget } from './run-target.js';
import { formatTable } from './table.js';

export interface BenchOptions {
  scenario: string;
  /** Each value is a separate run (a sweep), every target in each. */
  subs: number[];
  rates: number[];
  seconds: number;
  /** Target names; empty = every target that is available here. */
  targets: string[];
  /**
   * The Tidings server's `writeDelayMs`: each Tidings target runs once per value (baselines once).
   * Empty or absent = the server's default.
   */
  writeDelays?: number[];
  channels?: number;
  loadProcs: number;
  payloadBytes: number;
  drainMs: number;
  window: number;
  connectBatch: number;
  /** Extra node flags for the server process (`--cpu-prof`, …). */
  serverNodeArgs?: string[];
  /** Broadcast scenario: messages timed (default DEFAULT_REPEATS). */
  repeats?: number;
  /** Test hook: lose every k-th message on purpose (see PublishPlan.dropEvery). */
  dropEvery?: number;
  /** Where to append JSON lines; null = nowhere. */
  resultsFile: string | null;
  /** Receives the table and the JSON lines as they are produced. */
  print: (text: string) => void;
}

let handlersInstalled = false;

/** Children must not outlive the bench, however it ends. */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export async function runBench(options: BenchOptions): Promise<TargetResult[]> {
  installExitHandlers();
  const build = scenarios[options.scenario];
  if (!build)
    throw new Error(`unknown scenario "${options.scenario}" (known: ${Object.keys(scenarios).join(', ')})`);
  const chosen = options.targets.length > 0 ? options.targets.map(findTarget) : allTargets;
  const limit = openFileLimit();
  const env = machine();
  const all: TargetResult[] = [];

  for (const subs of options.subs) {
    for (const rate of options.rates) {
      const scenario = build({
        subs,
        rate,
        seconds: options.seconds,
        channels: options.channels,
        repeats: options.repeats,
      });
      const perProcess = Math.ceil(subs / Math.max(1, options.loadProcs));
      if (perProcess + 100 > limit) {
        throw new Error(
          `ulimit -n is ${limit}: too low for ${perProcess} connections per process (raise it or add --load-procs)`,
        );
      }
      // The server process holds every connection: more load processes do not help it.
      if (subs + 100 > limit) {
        throw new Error(`ulimit -n is ${limit}: too low for a server holding ${subs} connections (raise it)`);
      }
      const runOptions: RunOptions = {
        runId: new Date().toISOString(),
        loadProcs: options.loadProcs,
        payloadBytes: options.payloadBytes,
        drainMs: options.drainMs,
        window: options.window,
        connectBatch: options.connectBatch,
        serverNodeArgs: options.serverNodeArgs,
        dropEvery: options.dropEvery,
      };
      const results: TargetResult[] = [];
      for (const target of chosen) {
        // Without an explicit list, targets that cannot run here are left out rather than reported.
        if (options.targets.length === 0 && (await target.unavailable())) continue;
        // The machine may be shared: its load average before each run says how much to trust the run.
        const delays: (number | undefined)[] =
          target.tidings && options.writeDelays?.length ? options.writeDelays : [undefined];
        for (const writeDelayMs of delays) {
          const loadAvg1 = Math.round(loadavg()[0] * 100) / 100;
          const result = await runTarget(target, scenario, { ...runOptions, writeDelayMs });
          results.push({ ...result, loadAvg1, machine: env });
        }
      }
      addRatios(results);
      options.print(`\n${formatTable(results)}\n`);
      for (const r of results) options.print(JSON.stringify(r));
      if (options.resultsFile) appendResults(options.resultsFile, results);
      all.push(...results);
    }
  }
  return all;
}
