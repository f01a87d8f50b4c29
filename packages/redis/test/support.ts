import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';

// Shared by the Redis test files: the server they use, unique key prefixes, and admin helpers.

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function uid(): string {
  return randomBytes(5).toString('hex');
}

async function probe(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1_000,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Registers `body` when Redis is reachable, passing an admin connection and a key prefix unique to
 * this run (every key under it is deleted afterwards). When it is not: with CI=true one failing test,
 * elsewhere one skipped test that says why.
 */
export async function withRedis(body: (admin: Redis, runPrefix: string) => void): Promise<void> {
  if (!(await probe())) {
    const why = `Redis is not reachable at ${REDIS_URL}`;
    if (process.env.CI === 'true') {
      test('Redis is reachable (required with CI=true)', () => assert.fail(why));
    } else {
      console.log(`${why}: skipping the Redis tests (they fail instead with CI=true)`);
      test('Redis tests', { skip: `${why} (set CI=true to fail instead)` }, () => undefined);
    }
    return;
  }
  const admin = new Redis(REDIS_URL);
  const runPrefix = `tidings-test:${process.pid}:${uid()}:`;
  after(async () => {
    await deleteKeys(admin, runPrefix);
    await admin.quit();
  });
  body(admin, runPrefix);
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export async function keysUnder(admin: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/** Deletes every key under `prefix`: a FLUSHALL that spares the other tests running in parallel. */
export async function deleteKeys(admin: Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(admin, prefix);
  let deleted = 0;
  for (let i = 0; i < keys.length; i += 500) deleted += await admin.del(...keys.slice(i, i + 500));
  return deleted;
}

/** This server's client entry named `name` (from CLIENT LIST): `id`, `sub`, `psub`, … */
export async function clientInfo(admin: Redis, name: string): Promise<Record<string, string> | undefined> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  for (const line of list.split('\n')) {
    const fields: Record<string, string> = {};
    for (const pair of line.trim().split(' ')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    if (fields.name === name) return fields;
  }
  return undefined;
}

/** Drops the connection named `name`, as a network failure would. */
export async function killClient(admin: Redis, name: string): Promise<string> {
  const info = await clientInfo(admin, name);
  assert.ok(info?.id, `no Redis client named ${name}`);
  await admin.call('CLIENT', 'KILL', 'ID', info.id);
  return info.id;
}
