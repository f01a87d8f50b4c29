import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Synchronous } from '../src/index.js';
import { openEngine, POLICY, tempDir } from './support.js';

const PUBLISHER = fileURLToPath(new URL('./publisher-main.ts', import.meta.url));
/** Acknowledgements to wait for before each kill: enough that the kill lands mid-stream. */
const ACKS_PER_ROUND = 400;

interface Ack {
  channel: string;
  offset: number;
  epoch: string;
  data: string;
}

/**
 * Runs the publisher child until it has acknowledged `acks` publishes, then SIGKILLs it by pid while it
 * is still publishing. Returns every acknowledgement the child printed before it died.
 */
async function publishThenKill(path: string, synchronous: Synchronous, acks: number): Promise<Ack[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', PUBLISHER], {
    env: { ...process.env, TIDINGS_SQLITE_PATH: path, TIDINGS_SQLITE_SYNCHRONOUS: synchronous },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const received: Ack[] = [];
  let partial = '';
  let killed = false;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    // The last piece has no newline yet: an acknowledgement only counts once its line is complete.
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') continue;
      const [channel = '', offset = '', epoch = '', data = ''] = line.split(' ');
      received.push({ channel, offset: Number(offset), epoch, data });
    }
    if (!killed && received.length >= acks && child.pid !== undefined) {
      killed = true;
      process.kill(child.pid, 'SIGKILL');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `the publisher died on its own (code ${code}): ${stderr}`);
  assert.ok(
    received.length >= acks,
    `only ${received.length} acknowledgements before the timeout: ${stderr}`,
  );
  return received;
}

test('kill -9 mid-publish loses no acknowledged message and reuses no offset', async (t) => {
  const path = join(tempDir(t), 'kill.db');
  const acked: Ack[] = [];
  const epochs = new Map<string, string>();
  const rounds: Synchronous[] = ['normal', 'full', 'normal'];
  for (const [round, synchronous] of rounds.entries()) {
    const acks = await publishThenKill(path, synchronous, ACKS_PER_ROUND);
    acked.push(...acks);

    const engine = openEngine(t, path);
    const byChannel = new Map<string, Ack[]>();
    for (const ack of acked) byChannel.set(ack.channel, [...(byChannel.get(ack.channel) ?? []), ack]);
    for (const [channel, list] of byChannel) {
      const read = await engine.read(channel, 0, 1_000_000);
      const known = epochs.get(channel) ?? read.epoch;
      epochs.set(channel, known);
      assert.equal(read.epoch, known, `round ${round}: ${channel} kept its epoch`);
      for (const ack of list)
        assert.equal(ack.epoch, known, `round ${round}: ${channel} acked in its one epoch`);
      // Contiguous 1..offset: nothing stored twice, no hole; it may hold a publish committed just
      // before the kill whose acknowledgement never reached us.
      assert.deepEqual(
        read.messages.map((m) => m.offset),
        Array.from({ length: read.offset }, (_, i) => i + 1),
        `round ${round}: ${channel} offsets are 1..${read.offset}`,
      );
      const stored = new Map(read.messages.map((m) => [m.offset, m.data]));
      for (const ack of list) {
        assert.equal(
          stored.get(ack.offset),
          ack.data,
          `round ${round}: ${channel} offset ${ack.offset} survived`,
        );
      }
      const last = Math.max(...list.map((ack) => ack.offset));
      assert.ok(
        read.offset - last <= 1,
        `round ${round}: at most the one in-flight publish was unacknowledged`,
      );
      const next = await engine.publish({ channel, data: '"after restart"', policy: POLICY });
      assert.deepEqual(
        [next.epoch, next.offset],
        [known, read.offset + 1],
        `round ${round}: ${channel} continues`,
      );
      acked.push({ channel, offset: next.offset, epoch: next.epoch, data: '"after restart"' });
    }
    await engine.close();
    t.diagnostic(`round ${round} (${synchronous}): ${acks.length} acknowledged before SIGKILL, all present`);
  }
});
