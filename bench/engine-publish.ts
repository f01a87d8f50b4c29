// Publish rate of the embedded engines, one publish after another (each awaited, as a hub awaits its
// engine), 100-byte messages over 10 channels, history of 100:
//   npm run engine-publish --workspace bench -- [--seconds 5]
// SQLite runs in a fresh file under the system's temp directory, once per `synchronous` mode.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_RETENTION, type Engine, MemoryEngine } from '@tidings/server';
import { SqliteEngine } from '@tidings/sqlite';
import { machine } from './lib/machine.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const CHANNELS = 10;
const data = JSON.stringify({ text: 'x'.repeat(86) });

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

async function measure(name: string, engine: Engine): Promise<number> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1_000;
  let n = 0;
  for (let now = start; now < end; n++) {
    await engine.publish({ channel: `bench.${n % CHANNELS}`, data, policy: DEFAULT_RETENTION });
    const after = performance.now();
    latencies.push(after - now);
    now = after;
  }
  const elapsed = (performance.now() - start) / 1_000;
  const sorted = Float64Array.from(latencies).sort();
  await engine.close();
  const rate = Math.round(n / elapsed).toLocaleString('en');
  const p50 = quantile(sorted, 0.5).toFixed(3);
  const p99 = quantile(sorted, 0.99).toFixed(3);
  console.log(`| ${name} | ${rate} | ${p50} | ${p99} |`);
  return n;
}

/** Reopening a file after a run, and reading every channel's retained history: what a restart costs. */
async function reopen(path: string, published: number): Promise<void> {
  const start = performance.now();
  const engine = new SqliteEngine({ path });
  const opened = performance.now();
  let messages = 0;
  for (let c = 0; c < CHANNELS; c++) messages += (await engine.read(`bench.${c}`, 0, 1_000)).messages.length;
  const read = performance.now();
  await engine.close();
  console.log(
    `\nReopen after ${published.toLocaleString('en')} publishes: open ${(opened - start).toFixed(1)} ms, ` +
      `catch-up read of ${messages} retained messages over ${CHANNELS} channels ${(read - opened).toFixed(1)} ms`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'tidings-bench-'));
try {
  const m = machine();
  console.log(`${m.nproc} × ${m.cpu}, Node ${m.node}, commit ${m.commit}, ${seconds} s each, dir ${dir}\n`);
  console.log('| engine | publishes/s | p50 ms | p99 ms |\n|---|---:|---:|---:|');
  await measure('memory', new MemoryEngine());
  const normal = join(dir, 'normal.db');
  const published = await measure(
    'sqlite, synchronous=normal',
    new SqliteEngine({ path: normal, synchronous: 'normal' }),
  );
  await measure(
    'sqlite, synchronous=full',
    new SqliteEngine({ path: join(dir, 'full.db'), synchronous: 'full' }),
  );
  await reopen(normal, published);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
