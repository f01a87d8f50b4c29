// A child process for the kill -9 test: publishes to a few channels as fast as it can on the SQLite
// engine at TIDINGS_SQLITE_PATH and prints one line per acknowledged publish, `channel offset epoch data`,
// until it is killed. stdout is a pipe, which Node writes synchronously on Linux: a line is out before
// the next publish starts.
import { SqliteEngine, type Synchronous } from '../src/index.js';

const path = process.env.TIDINGS_SQLITE_PATH ?? '';
const synchronous = (process.env.TIDINGS_SQLITE_SYNCHRONOUS ?? 'full') as Synchronous;
const policy = { size: 1_000_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };
const channels = ['kill.a', 'kill.b', 'kill.c'];

const engine = new SqliteEngine({ path, synchronous });
process.stdout.write('ready\n');
for (let n = 0; ; n++) {
  const channel = channels[n % channels.length] as string;
  const data = JSON.stringify({ pid: process.pid, n });
  // Every fifth publish carries an idempotency key, so keys are written mid-stream too.
  const id = n % 5 === 0 ? `${process.pid}-${n}` : undefined;
  const result = await engine.publish({ channel, data, id, policy });
  process.stdout.write(`${channel} ${result.offset} ${result.epoch} ${data}\n`);
}
