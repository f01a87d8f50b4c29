import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { unavailable } from './unavailable.js';

// Backoff between reconnect attempts: 50 ms doubling up to 2 s, with jitter so that many server
// processes do not reconnect in lockstep after a Redis restart.
function retryStrategy(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 6), 2_000) + Math.floor(Math.random() * 50);
}

/**
 * Opens a connection that fails fast rather than queueing: while Redis is down a command rejects at
 * once (no offline queue), a command in flight when the connection drops rejects with it (no retries
 * per request) and is never sent twice (no resend after reconnect: a publish is not idempotent), and
 * `commandTimeoutMs` bounds a server that stops answering. Reconnecting goes on in the background.
 */
export function openConnection(url: string | undefined, user: RedisOptions, own: RedisOptions): Redis {
  const { keyPrefix: _ignored, ...rest } = user;
  const options: RedisOptions = {
    retryStrategy,
    connectTimeout: 5_000,
    ...rest,
    ...own,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  };
  return url ? new Redis(url, options) : new Redis(options);
}

/** Either kind of command connection: one Redis (standalone, Sentinel) or a Cluster client. */
export type Connection = Redis | Cluster;

/**
 * Opens a Cluster client with the same fail-fast policy: `user` applies to every node's connection.
 * A command whose connection closed is not sent again (`retryDelayOnFailover: 0`): it may have run
 * before the node died. Redirections (MOVED, ASK) and refusals (TRYAGAIN, CLUSTERDOWN) are followed,
 * since a refused command did not run.
 */
export function openCluster(
  nodes: ClusterNode[],
  cluster: ClusterOptions,
  user: RedisOptions,
  own: RedisOptions,
): Cluster {
  const { keyPrefix: _ignored, ...rest } = user;
  return new Cluster(nodes, {
    clusterRetryStrategy: retryStrategy,
    ...cluster,
    redisOptions: {
      connectTimeout: 5_000,
      ...cluster.redisOptions,
      ...rest,
      ...own,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    },
    // Node connections are opened on a node's first command: without a queue, the commands that
    // arrive while one is being opened would be refused. The engine sends only while the cluster is
    // ready, so this queue holds at most those, each bounded by the command timeout once sent.
    enableOfflineQueue: true,
    retryDelayOnFailover: 0,
    lazyConnect: false,
  });
}

/**
 * The pub/sub connection of a Cluster engine: one plain connection to any node, since a classic
 * PUBLISH reaches every node of a cluster. ioredis's own cluster subscriber moves to another node and
 * re-subscribes without telling anyone, so messages could be missed unnoticed; this connection is an
 * ordinary `Redis` whose loss the FanOut sees (and resyncs after), and each reconnect attempt goes to
 * the next node the cluster client knows, so a node that died for good is left behind.
 */
export function openClusterSubscriber(
  nodes: () => { host: string; port: number }[],
  user: RedisOptions,
  own: RedisOptions,
): Redis {
  let next = 0;
  const first = nodes()[0];
  const redis = openConnection('', user, {
    ...own,
    host: first?.host,
    port: first?.port,
    retryStrategy: (attempt) => {
      const known = nodes();
      const node = known[next++ % Math.max(1, known.length)];
      // ioredis reads host and port from its options on every connect.
      if (node !== undefined) Object.assign(redis.options, { host: node.host, port: node.port });
      return retryStrategy(attempt);
    },
  });
  return redis;
}

/** Every node a cluster client knows now, or the seed nodes before it knows any. */
export function clusterNodes(cluster: Cluster, seeds: ClusterNode[]): { host: string; port: number }[] {
  const known = cluster
    .nodes('all')
    .map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }));
  if (known.length > 0) return known;
  return seeds.flatMap((seed) => {
    if (typeof seed === 'number') return [{ host: '127.0.0.1', port: seed }];
    if (typeof seed === 'string') {
      const url = new URL(seed.includes('://') ? seed : `redis://${seed}`);
      return [{ host: url.hostname, port: Number(url.port || 6379) }];
    }
    return [{ host: seed.host ?? '127.0.0.1', port: Number(seed.port ?? 6379) }];
  });
}

const CONNECTING = new Set(['wait', 'connecting', 'connect']);

/**
 * Resolves when `redis` can take commands. A connection still on its way up is waited for (at most
 * `timeoutMs`); one that is down or reconnecting fails at once, so a caller never hangs on Redis.
 */
export function whenUsable(redis: Connection, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (!CONNECTING.has(redis.status)) return Promise.reject(unavailable(`connection is ${redis.status}`));
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('close', onClose);
      redis.off('end', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onClose = () => done(unavailable('connection failed'));
    const timer = setTimeout(() => done(unavailable(`not connected within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', onReady);
    redis.once('close', onClose);
    redis.once('end', onClose);
  });
}

/** Resolves once `redis` is ready, however long that takes; rejects if it gives up for good. */
export function whenReady(redis: Connection): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (redis.status === 'end') return Promise.reject(unavailable('connection ended'));
  return new Promise((resolve, reject) => {
    const onReady = () => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      redis.off('ready', onReady);
      reject(unavailable('connection ended'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/**
 * Quits politely when connected, and in any case stops reconnecting. Commands still queued for the
 * next auto-pipeline go out first: QUIT itself is never auto-pipelined and would overtake them.
 */
export async function closeConnection(redis: Connection): Promise<void> {
  if (redis.status === 'ready') {
    const quit = async () => {
      while (redis.autoPipelineQueueSize > 0 && redis.status === 'ready') {
        await new Promise((r) => setImmediate(r));
      }
      await redis.quit().catch(() => undefined);
    };
    await Promise.race([quit(), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }
  redis.disconnect(false);
}
