import { parseArgs } from 'node:util';
import type { BenchOptions } from './bench.js';
import { defaultResultsFile } from './results-file.js';

export const USAGE = `Usage: npm run bench -- [options]

  --scenario NAME     fanout | channels | idle | reconnect | broadcast | redis
                                                                          (default fanout)
  --subs N[,N…]       subscribers; a list runs a sweep                    (default 100)
  --rate R[,R…]       messages/s over all channels, 0 = max               (default 50)
  --seconds S         publishing (or idle) time per run                   (default 10)
  --targets a,b       ws, socketio, socketio-polling, sse, tidings-ws, tidings-sse,
                      tidings-stream, tidings-longpoll, tidings-poll
                      (default: every target available here)
  --write-delay D[,D…] Tidings targets: the server's writeDelayMs; a list runs each
                      Tidings target once per value, beside one run of each baseline
                                                                          (default: the server's)
  --channels C        channel count for the channels scenario             (default = subs)
  --load-procs P      subscriber processes                                (default 1)
  --payload BYTES     message JSON size                                   (default 100)
  --drain S           longest wait for deliveries after publishing ends   (default 5)
  --window D          deliveries in flight at rate 0                      (default 50000)
  --connect-batch B   connections opened concurrently                     (default 100)
  --server-node-args A  extra node flags for the server process, space-separated
                      (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": a profile per run)
  --repeats N         broadcast: messages, each timed to its last subscriber (default 10)
  --out FILE          append JSON lines here        (default bench/results/<date>.jsonl)
  --no-save           do not append results to a file
`;

function numbers(text: string, name: string): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0))
    throw new Error(`--${name}: expected numbers ≥ 0, got "${text}"`);
  return values;
}

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name}: expected a number > 0, got "${text}"`);
  return value;
}

/** Parses the command line; returns null when only help was asked for. */
export function parseBenchArgs(argv: string[], print: (text: string) => void): BenchOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'fanout' },
      subs: { type: 'string', default: '100' },
      rate: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '10' },
      targets: { type: 'string', default: '' },
      'write-delay': { type: 'string' },
      channels: { type: 'string' },
      'load-procs': { type: 'string', default: '1' },
      payload: { type: 'string', default: '100' },
      drain: { type: 'string', default: '5' },
      window: { type: 'string', default: '50000' },
      'connect-batch': { type: 'string', default: '100' },
      'server-node-args': { type: 'string', default: '' },
      repeats: { type: 'string' },
      out: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(USAGE);
    return null;
  }
  const subs = numbers(values.subs, 'subs');
  if (subs.some((s) => s < 1 || !Number.isInteger(s))) throw new Error('--subs: expected whole numbers ≥ 1');
  return {
    scenario: values.scenario,
    subs,
    rates: numbers(values.rate, 'rate'),
    seconds: positive(values.seconds, 'seconds'),
    targets: values.targets
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
    writeDelays: values['write-delay'] === undefined ? [] : numbers(values['write-delay'], 'write-delay'),
    channels: values.channels === undefined ? undefined : positive(values.channels, 'channels'),
    loadProcs: Math.floor(positive(values['load-procs'], 'load-procs')),
    payloadBytes: positive(values.payload, 'payload'),
    drainMs: positive(values.drain, 'drain') * 1000,
    window: positive(values.window, 'window'),
    connectBatch: Math.floor(positive(values['connect-batch'], 'connect-batch')),
    serverNodeArgs: values['server-node-args'].split(' ').filter(Boolean),
    repeats: values.repeats === undefined ? undefined : Math.floor(positive(values.repeats, 'repeats')),
    resultsFile: values['no-save'] ? null : (values.out ?? defaultResultsFile()),
    print,
  };
}
