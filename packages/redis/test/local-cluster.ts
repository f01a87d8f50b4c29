import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** A Redis Cluster of local `redis-server` processes the tests start and stop themselves. */
export interface LocalCluster {
  /** Every node, masters first as `redis-cli --cluster create` assigned them. */
  readonly nodes: readonly { host: string; port: number }[];
  /** Sends a signal to one node's process: SIGKILL as a crash would, SIGSTOP/SIGCONT to stall it. */
  kill(port: number, signal?: NodeJS.Signals): void;
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** Sends one command to the node on `port`. */
  call(port: number, ...args: string[]): Promise<unknown>;
  /** The port of a replica of the master on `port`. */
  replicaOf(port: number): Promise<number>;
  /** Kills every node and removes the data directory. */
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  masters?: number;
  /** Replicas per master (default 0). */
  replicas?: number;
  /** `cluster-node-timeout`: how long a silent master takes to be failed over (ms, default 1 000). */
  nodeTimeoutMs?: number;
}

const HOST = '127.0.0.1';

/** `count` distinct ports nobody listens on now: all held open together, so none is handed out twice. */
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

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`local cluster: ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
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

/**
 * Starts `masters × (1 + replicas)` nodes with `--cluster-enabled yes` in a temporary directory, each on
 * two free ports (clients, and the cluster bus through `cluster-port`, so no port + 10 000 is needed),
 * joins them with `redis-cli --cluster create` and waits until every node reports `cluster_state:ok`.
 * Nothing is persisted: a killed node's data is gone, as a failover test wants.
 */
export async function startCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const count = masters * (1 + replicas);
  const dir = await mkdtemp(join(tmpdir(), 'tidings-cluster-'));
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    const free = await freePorts(2 * count);
    for (let i = 0; i < count; i++) {
      const [port, bus] = [free[2 * i] as number, free[2 * i + 1] as number];
      const nodeDir = join(dir, String(port));
      await mkdir(nodeDir);
      // biome-ignore format: one flag and its value a line
      const child = spawn('redis-server', [
        '--port', String(port), '--cluster-port', String(bus), '--bind', HOST,
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1_000),
        '--dir', nodeDir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
        // Replicas sync at once rather than after the default 5 s wait for more replicas.
        '--repl-diskless-sync-delay', '0',
      ], { stdio: 'ignore' });
      children.set(port, child);
      ports.push(port);
    }
    await Promise.all(
      ports.map((port) =>
        until(`node ${port} up`, () => ask(port, async (r) => (await r.ping()) === 'PONG'), 5_000),
      ),
    );
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `${HOST}:${p}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    const ok = async (port: number) =>
      ask(port, async (r) => String(await r.call('CLUSTER', 'INFO')).includes('cluster_state:ok'));
    await until(
      'cluster_state:ok on every node',
      async () => (await Promise.all(ports.map(ok))).every(Boolean),
      15_000,
    );
    // A replica that never synced cannot be failed over to: wait for every link.
    const synced = async (port: number) =>
      ask(port, async (r) => {
        const info = String(await r.call('INFO', 'replication'));
        return info.includes('role:master') || info.includes('master_link_status:up');
      });
    await until(
      'every replica in sync',
      async () => (await Promise.all(ports.map(synced))).every(Boolean),
      15_000,
    );
    return {
      nodes: ports.map((port) => ({ host: HOST, port })),
      kill: (port, signal = 'SIGKILL') => children.get(port)?.kill(signal),
      masterOf: async (key) => {
        for (const port of ports) {
          const child = children.get(port);
          if (child?.exitCode !== null || child.signalCode !== null) continue;
          const slot = await ask(port, (r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>).catch(
            () => null,
          );
          if (slot === null) continue;
          const shards = (await ask(port, (r) => r.call('CLUSTER', 'SLOTS'))) as [
            number,
            number,
            [string, number],
          ][];
          const owner = shards.find(([from, to]) => slot >= from && slot <= to);
          if (owner) return owner[2][1];
        }
        throw new Error(`local cluster: no master for ${key}`);
      },
      call: (port, ...args) => ask(port, (r) => r.call(args[0] as string, ...args.slice(1))),
      replicaOf: async (port) => {
        const id = await ask(port, (r) => r.call('CLUSTER', 'MYID') as Promise<string>);
        const lines = (await ask(port, (r) => r.call('CLUSTER', 'REPLICAS', id))) as string[];
        const address = lines[0]?.split(' ')[1] ?? '';
        const replica = Number(address.split('@')[0]?.split(':')[1]);
        if (!Number.isInteger(replica)) throw new Error(`local cluster: no replica of ${port}`);
        return replica;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
