import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

const HOST = '127.0.0.1';

/** A master, one replica and one sentinel (quorum 1) as local processes the tests start and stop. */
export interface LocalSentinel {
  readonly sentinel: { host: string; port: number };
  readonly name: string;
  readonly master: number;
  readonly replica: number;
  kill(port: number, signal?: NodeJS.Signals): void;
  call(port: number, ...args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, HOST, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(port, HOST, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`local sentinel: ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Starts the three processes in a temporary directory; the sentinel fails the master over 1 s after it goes silent. */
export async function startSentinel(): Promise<LocalSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  const name = 'tidings';
  try {
    const [master, replica, sentinel] = (await freePorts(3)) as [number, number, number];
    // biome-ignore format: one flag and its value a line
    const common = ['--bind', HOST, '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
      '--repl-diskless-sync-delay', '0', '--dir', dir];
    children.set(master, spawn('redis-server', ['--port', String(master), ...common], { stdio: 'ignore' }));
    children.set(
      replica,
      spawn('redis-server', ['--port', String(replica), '--replicaof', HOST, String(master), ...common], {
        stdio: 'ignore',
      }),
    );
    const conf = join(dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        `port ${sentinel}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor ${name} ${HOST} ${master} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    );
    children.set(sentinel, spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    await until(
      'replica in sync',
      () =>
        ask(replica, async (r) =>
          String(await r.call('INFO', 'replication')).includes('master_link_status:up'),
        ),
      10_000,
    );
    await until(
      'sentinel sees the replica',
      () =>
        ask(sentinel, async (r) => ((await r.call('SENTINEL', 'REPLICAS', name)) as unknown[]).length > 0),
      10_000,
    );
    return {
      sentinel: { host: HOST, port: sentinel },
      name,
      master,
      replica,
      kill: (port, signal = 'SIGKILL') => children.get(port)?.kill(signal),
      call: (port, ...args) => ask(port, (r) => r.call(args[0] as string, ...args.slice(1))),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
