import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ErrorCode, isTidingsError } from '@tidings/protocol';
import { engineContract, presenceContract } from '@tidings/testing';
import { DatabaseLockedError, SqliteEngine } from '../src/index.js';
import { manualClock, openEngine, POLICY, tempDir } from './support.js';

const dir = tempDir();
let files = 0;
const freshFile = () => join(dir, `contract-${++files}.db`);

// Each engine on a file of its own: one file belongs to one process (a peer on it would be refused).
engineContract('sqlite', { create: async () => new SqliteEngine({ path: freshFile() }), numRuns: 30 });
presenceContract('sqlite', { create: async () => new SqliteEngine({ path: freshFile() }) });

describe('sqlite engine', () => {
  test('publish has committed and delivered before it returns', async (t) => {
    const engine = openEngine(t, join(tempDir(t), 'sync.db'));
    const seen: number[] = [];
    await engine.subscribe('sync', { message: (m) => seen.push(m.offset) });
    const pending = engine.publish({ channel: 'sync', data: '1', policy: POLICY });
    assert.deepEqual(seen, [1], 'delivered inside the call, before any await');
    assert.equal((await pending).offset, 1);
  });

  test('a reopened file keeps epochs, offsets, history, snapshots and idempotency keys', async (t) => {
    const path = join(tempDir(t), 'restart.db');
    const first = new SqliteEngine({ path, sweepIntervalMs: 0 });
    const a1 = await first.publish({ channel: 'a', data: '{"n":1}', id: 'k1', origin: 'o', policy: POLICY });
    const expiresAt = Date.now() + 60_000;
    await first.publish({ channel: 'a', data: '{"n":2}', expiresAt, policy: POLICY });
    await first.setSnapshot('a', '"state"', POLICY);
    const b = await first.position('b');
    const before = await first.read('a', 0, 10);
    const snapshot = await first.snapshot('a');
    await first.close();

    const second = openEngine(t, path);
    assert.deepEqual(await second.position('b'), b, 'a channel only asked for its position keeps its epoch');
    assert.deepEqual(await second.read('a', 0, 10), before);
    // The snapshot keeps its own time (when setState ran), not the time of the message it follows.
    assert.deepEqual(snapshot, { epoch: a1.epoch, offset: 2, ts: snapshot?.ts, data: '"state"' });
    assert.deepEqual(await second.snapshot('a'), snapshot);
    const retry = await second.publish({ channel: 'a', data: '{"n":1}', id: 'k1', policy: POLICY });
    assert.deepEqual(retry, { ...a1, duplicate: true }, 'the idempotency key survived');
    const next = await second.publish({ channel: 'a', data: '{"n":3}', policy: POLICY });
    assert.deepEqual([next.epoch, next.offset], [a1.epoch, 3]);
    assert.deepEqual(await second.channels('>'), ['a', 'b']);
  });

  test('an injected clock drives age trimming and key expiry', async (t) => {
    const clock = manualClock();
    const engine = openEngine(t, join(tempDir(t), 'clock.db'), { now: () => clock.now });
    const policy = { ...POLICY, ttlMs: 1_000, idempotencyMs: 1_000 };
    await engine.publish({ channel: 'aged', data: '1', id: 'k', policy });
    clock.advance(600);
    await engine.publish({ channel: 'aged', data: '2', policy });
    clock.advance(500);
    let read = await engine.read('aged', 0, 10);
    assert.deepEqual([read.messages.map((m) => m.offset), read.firstOffset], [[2], 2]);
    const again = await engine.publish({ channel: 'aged', data: '1', id: 'k', policy });
    assert.deepEqual([again.duplicate, again.offset], [false, 3], 'the key expired');
    clock.advance(1_001);
    read = await engine.read('aged', 0, 10);
    assert.deepEqual([read.messages, read.offset, read.firstOffset], [[], 3, 4]);
  });

  test('history is trimmed to policy.size, oldest first', async (t) => {
    const engine = openEngine(t, join(tempDir(t), 'size.db'));
    const policy = { ...POLICY, size: 3 };
    for (let i = 1; i <= 10; i++) await engine.publish({ channel: 's', data: String(i), policy });
    const read = await engine.read('s', 0, 100);
    assert.deepEqual([read.messages.map((m) => m.data), read.firstOffset], [['8', '9', '10'], 8]);
  });

  test('a sweep forgets idle channels holding nothing, and only those', async (t) => {
    const clock = manualClock();
    const engine = openEngine(t, join(tempDir(t), 'sweep.db'), { now: () => clock.now, idleTtlMs: 5_000 });
    const policy = { ...POLICY, ttlMs: 1_000, idempotencyMs: 500 };
    const first = await engine.publish({ channel: 'gone', data: '1', policy });
    await engine.setSnapshot('snapshotted', '"s"', policy);
    await engine.publish({ channel: 'followed', data: '1', policy });
    const stop = await engine.subscribe('followed', { message() {} });
    await engine.position('untouched');
    // A message is expired once older than ttlMs (ts < now - ttlMs).
    clock.advance(1_000);
    engine.sweep();
    assert.deepEqual((await engine.channels('>')).sort(), ['followed', 'gone', 'snapshotted', 'untouched']);
    clock.advance(1);
    engine.sweep();
    assert.deepEqual((await engine.channels('>')).sort(), ['followed', 'snapshotted', 'untouched']);
    const again = await engine.position('gone');
    assert.deepEqual(again.offset, 0);
    assert.notEqual(again.epoch, first.epoch, 'a forgotten channel starts a new epoch');
    stop();
    clock.advance(5_000);
    engine.sweep();
    assert.deepEqual(await engine.channels('>'), ['snapshotted']);
  });

  test('a conflict or a failed publish changes nothing', async (t) => {
    const engine = openEngine(t, join(tempDir(t), 'conflict.db'));
    await engine.publish({ channel: 'c', data: '1', policy: POLICY });
    await assert.rejects(
      engine.publish({ channel: 'c', data: '2', ifOffset: 0, policy: POLICY }),
      (error) => {
        assert.ok(isTidingsError(error));
        assert.equal(error.code, ErrorCode.conflict);
        return true;
      },
    );
    const next = await engine.publish({ channel: 'c', data: '2', ifOffset: 1, policy: POLICY });
    assert.equal(next.offset, 2);
    assert.equal((await engine.read('c', 0, 10)).messages.length, 2);
  });

  test('a second engine on the same file, in this process, is refused', async (t) => {
    const path = join(tempDir(t), 'locked.db');
    const owner = openEngine(t, path);
    await owner.publish({ channel: 'x', data: '1', policy: POLICY });
    assert.throws(
      () => new SqliteEngine({ path }),
      (error) => {
        assert.ok(error instanceof DatabaseLockedError);
        assert.equal(error.code, ErrorCode.engineUnavailable);
        assert.equal(error.path, path);
        assert.match(error.message, /in use by another Tidings process/);
        return true;
      },
    );
    assert.equal((await owner.publish({ channel: 'x', data: '2', policy: POLICY })).offset, 2);
    await owner.close();
    const next = openEngine(t, path);
    assert.equal((await next.position('x')).offset, 2, 'closing releases the lock');
  });

  test('another process opening the same file is refused with DatabaseLockedError', async (t) => {
    const path = join(tempDir(t), 'shared.db');
    const owner = openEngine(t, path);
    await owner.publish({ channel: 'x', data: '1', policy: POLICY });
    const script = `
      import { SqliteEngine, DatabaseLockedError } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
      try { new SqliteEngine({ path: ${JSON.stringify(path)} }); console.log('opened'); }
      catch (error) { console.log(error instanceof DatabaseLockedError ? 'locked ' + error.code : 'other ' + error); }
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.stdout.trim(), `locked ${ErrorCode.engineUnavailable}`, child.stderr);
    assert.equal((await owner.publish({ channel: 'x', data: '2', policy: POLICY })).offset, 2);
  });

  test('a file of another schema version is refused', async (t) => {
    const path = join(tempDir(t), 'future.db');
    const engine = new SqliteEngine({ path });
    await engine.close();
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => new SqliteEngine({ path }), /schema version 99/);
  });
});
