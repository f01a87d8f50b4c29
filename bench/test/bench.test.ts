import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { type BenchOptions, runBench } from '../lib/bench.js';

// Keeps the harness itself working: short fanouts against the bare ws target, one clean, one lossy.
const options: BenchOptions = {
  scenario: 'fanout',
  subs: [20],
  rates: [100],
  seconds: 2,
  targets: ['ws'],
  loadProcs: 1,
  payloadBytes: 100,
  drainMs: 3_000,
  window: 50_000,
  connectBatch: 100,
  resultsFile: null,
  print: () => {},
};

test('bench: fanout against ws delivers every message to every subscriber', { timeout: 30_000 }, async () => {
  const output: string[] = [];
  const [ws, ...rest] = await runBench({ ...options, print: (text) => output.push(text) });
  assert.equal(rest.length, 0);
  assert.equal(ws.status, 'ok', ws.reason);
  assert.equal(ws.published, 200);
  assert.equal(ws.expected, 200 * 20);
  assert.equal(ws.received, 200 * 20);
  assert.equal(ws.missing, 0);
  assert.ok((ws.latencyMs?.p99 ?? Number.NaN) >= 0);
  assert.ok((ws.serverCpuUsPerMsg ?? 0) > 0);
  if (existsSync('/proc/self/io')) {
    // The naive loop: one write per message per connection (plus a few for IPC over the window).
    const writes = ws.serverWritesPerMsg ?? 0;
    assert.ok(writes >= 0.95 && writes < 1.2, `${writes} server writes per delivery`);
  }
  const line = output.find((text) => text.startsWith('{'));
  assert.ok(line, 'prints one JSON line per target');
  assert.equal(JSON.parse(line).target, 'ws');
});

test('bench: a run that loses messages is FAILED, not a result', { timeout: 30_000 }, async () => {
  const [ws] = await runBench({ ...options, seconds: 0.5, drainMs: 500, dropEvery: 10 });
  assert.equal(ws.status, 'failed');
  assert.equal(ws.missing, 5 * 20);
  assert.equal(ws.deliveredPerSec, undefined);
  assert.match(ws.reason ?? '', /20 of 20 subscribers/);
});

test('bench: reconnect against tidings-ws resumes every subscriber with nothing lost', {
  timeout: 30_000,
}, async () => {
  // 4 s, not 2: the 20 subscribers must be back before the publisher stops, even on a loaded machine,
  // or they have no later message to show they caught up with.
  const [tidings] = await runBench({
    ...options,
    seconds: 4,
    scenario: 'reconnect',
    targets: ['tidings-ws'],
  });
  assert.equal(tidings.status, 'ok', tidings.reason);
  assert.equal(tidings.writeDelayMs, 0, 'the delay in effect is recorded: the server default');
  assert.equal(tidings.received, 400 * 20);
  assert.equal(tidings.reconnect?.caughtUp, 20);
  assert.ok((tidings.reconnect?.catchUpMs.max ?? -1) >= (tidings.reconnect?.resumedMs.max ?? 0));
});
