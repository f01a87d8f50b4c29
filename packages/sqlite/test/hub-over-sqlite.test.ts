import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createHub, type Position, type ResetNotice } from '@tidings/server';
import { eventually } from '@tidings/testing';
import Database from 'better-sqlite3';
import { SqliteEngine } from '../src/index.js';
import { tempDir } from './support.js';

describe('hub over sqlite', () => {
  test('after a restart a subscriber resumes from its position with no reset', async (t) => {
    const path = join(tempDir(t), 'hub.db');
    const first = createHub({ engine: new SqliteEngine({ path }) });
    for (let i = 1; i <= 3; i++) await first.publish('room', { i });
    const seen = await first.position('room');
    await first.publish('room', { i: 4 });
    await first.close();

    const second = createHub({ engine: new SqliteEngine({ path }) });
    t.after(() => second.close());
    const got: unknown[] = [];
    const resets: ResetNotice[] = [];
    const sub = second.subscribe('room', (m) => void got.push(m.data), {
      since: seen,
      onReset: (r) => void resets.push(r),
    });
    const started = (await sub.ready) as Position;
    assert.equal(started.epoch, seen.epoch, 'the epoch survived the restart');
    await second.publish('room', { i: 5 });
    await eventually(() => assert.deepEqual(got, [{ i: 4 }, { i: 5 }]));
    assert.deepEqual(resets, []);
    const history = await second.history('room', { since: { epoch: seen.epoch, offset: 0 } });
    assert.equal(history.reset, false);
    assert.deepEqual(
      history.messages.map((m) => m.data),
      [1, 2, 3, 4, 5].map((i) => ({ i })),
    );
  });

  test('a power loss under synchronous=normal reaches clients as a reset, never as reused offsets', async (t) => {
    const path = join(tempDir(t), 'power.db');
    const first = createHub({ engine: new SqliteEngine({ path, synchronous: 'normal' }) });
    await first.publish('room', 'a');
    await first.publish('room', 'b');
    const seen = await first.position('room');
    await first.close();
    // What a power loss leaves: the session never closed, and the machine has booted again since.
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'open'").run('1');
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'boot'").run('id:an-earlier-boot');
    raw.close();

    const second = createHub({ engine: new SqliteEngine({ path }) });
    t.after(() => second.close());
    const resets: ResetNotice[] = [];
    const got: unknown[] = [];
    const sub = second.subscribe('room', (m) => void got.push(m.data), {
      since: seen,
      onReset: (r) => void resets.push(r),
    });
    await sub.ready;
    const now = await second.position('room');
    assert.notEqual(now.epoch, seen.epoch, 'a new epoch');
    assert.equal(now.offset, 2, 'what was durable is kept');
    await eventually(() => assert.equal(resets.length, 1));
    assert.equal(resets[0]?.epoch, now.epoch);
    await eventually(() => assert.deepEqual(got, ['a', 'b']), 2_000);
  });

  test('an unclean stop on the same boot (a process crash) keeps the epochs', async (t) => {
    const path = join(tempDir(t), 'crash.db');
    const first = new SqliteEngine({ path, synchronous: 'normal' });
    const before = await first.publish({
      channel: 'x',
      data: '1',
      policy: { size: 10, ttlMs: 60_000, idempotencyMs: 0 },
    });
    await first.close();
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = '1' WHERE key = 'open'").run();
    raw.close();
    const second = new SqliteEngine({ path });
    t.after(() => second.close());
    assert.deepEqual(await second.position('x'), { epoch: before.epoch, offset: 1 });
  });

  test('an unclean stop under synchronous=full keeps the epochs even across a reboot', async (t) => {
    const path = join(tempDir(t), 'full.db');
    const first = new SqliteEngine({ path, synchronous: 'full' });
    const before = await first.publish({
      channel: 'x',
      data: '1',
      policy: { size: 10, ttlMs: 60_000, idempotencyMs: 0 },
    });
    await first.close();
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = '1' WHERE key = 'open'").run();
    raw.prepare("UPDATE meta SET value = 'id:an-earlier-boot' WHERE key = 'boot'").run();
    raw.close();
    const second = new SqliteEngine({ path });
    t.after(() => second.close());
    assert.deepEqual(await second.position('x'), { epoch: before.epoch, offset: 1 });
  });
});
