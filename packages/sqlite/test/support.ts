import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { RetentionPolicy } from '@tidings/server';
import { SqliteEngine, type SqliteEngineOptions } from '../src/index.js';

export const POLICY: RetentionPolicy = { size: 1_000, ttlMs: 3_600_000, idempotencyMs: 3_600_000 };

/** A fresh directory, removed after the test (or the process, when `t` is omitted). */
export function tempDir(t?: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidings-sqlite-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  if (t) t.after(remove);
  else process.once('exit', remove);
  return dir;
}

/** An engine on `path`, closed after the test. */
export function openEngine(
  t: TestContext,
  path: string,
  options: Omit<SqliteEngineOptions, 'path'> = {},
): SqliteEngine {
  const engine = new SqliteEngine({ path, sweepIntervalMs: 0, ...options });
  t.after(() => engine.close());
  return engine;
}

export function manualClock(start = 1_700_000_000_000) {
  const clock = {
    now: start,
    advance(ms: number) {
      clock.now += ms;
    },
  };
  return clock;
}
