// A real process with presence members is SIGKILLed (no leave, no close): the others list its members
// until their TTL has passed, then drop them within it, each with one `leave` heard by every listener.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { PresenceEvent } from '@tidings/server';
import { eventually } from '@tidings/testing';
import type { NatsEngine } from '../src/index.js';
import { deleteStreams, namespace, natsUnavailable, testEngine } from './nats-helpers.js';

const TTL_MS = 1_500;

function startChild(env: object): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./presence-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@tidings/source', '--import', 'tsx', script], {
    env: { ...process.env, TIDINGS_PRESENCE_CHILD: JSON.stringify(env) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the presence child did not start in 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`the presence child exited (${code}) before ready`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('ready')) return;
      clearTimeout(timer);
      resolve(child);
    });
  });
}

const unavailable = await natsUnavailable();
if (unavailable && process.env.CI === 'true') {
  test('NATS JetStream is reachable (required with CI=true)', () => assert.fail(unavailable));
} else if (unavailable) {
  test('NATS presence kill', { skip: `${unavailable} (set CI=true to fail instead)` }, () => undefined);
} else {
  const ns = namespace('PRES_KILL');
  after(() => deleteStreams(ns.stream));

  test('a SIGKILLed process: its members are listed until the TTL, then leave, once each', async (t) => {
    const channel = 'room.kill';
    const engines: NatsEngine[] = [];
    const heard: PresenceEvent[][] = [];
    for (let i = 0; i < 2; i++) {
      const engine = testEngine({ ...ns, presenceTtlMs: TTL_MS });
      t.after(() => engine.close());
      const events: PresenceEvent[] = [];
      await engine.presence.subscribe(channel, (event) => events.push(event));
      engines.push(engine);
      heard.push(events);
    }
    const [b, c] = engines as [NatsEngine, NatsEngine];
    await b.presence.join(channel, { client: 'b1', user: 'bob' });
    const victims = ['k1', 'k2', 'k3'];
    const child = await startChild({ ...ns, ttlMs: TTL_MS, channel, clients: victims });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    await eventually(async () => {
      assert.deepEqual((await c.presence.members(channel)).map((m) => m.client).sort(), ['b1', ...victims]);
    });
    // Past at least one refresh of the child's members, so the kill lands at a random point in its cycle.
    await sleep(TTL_MS / 2);
    assert.ok(child.pid !== undefined);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGKILL');
    await exited;
    const killedAt = Date.now();
    // Refreshed at most TTL/3 before the kill: still listed for 2/3 of the TTL after it.
    await sleep(TTL_MS / 2);
    assert.equal((await b.presence.members(channel)).length, 4, 'listed until their TTL has passed');
    const leaveTimes = new Map<string, number>();
    await eventually(() => {
      for (const e of heard[0] ?? []) {
        if (e.type === 'leave' && !leaveTimes.has(e.member.client))
          leaveTimes.set(e.member.client, Date.now());
      }
      assert.deepEqual([...leaveTimes.keys()].sort(), victims);
    }, 10_000);
    const latest = Math.max(...leaveTimes.values()) - killedAt;
    t.diagnostic(`the killed process's members left ${latest} ms after SIGKILL (TTL ${TTL_MS} ms)`);
    // Refreshed last before the kill, so expired at most TTL after it, and pruned as they expire (the
    // others time a prune for the next expiry); the rest is slack for a loaded machine.
    assert.ok(latest <= TTL_MS + 600, `left ${latest} ms after the kill (TTL ${TTL_MS} ms)`);
    assert.deepEqual(await c.presence.members(channel), [{ client: 'b1', user: 'bob' }]);
    await sleep(500);
    for (const events of heard) {
      const leaves = events.filter((e) => e.type === 'leave').map((e) => e.member.client);
      assert.deepEqual(leaves.sort(), victims, 'one leave per member, heard by each listener');
    }
  });
}
