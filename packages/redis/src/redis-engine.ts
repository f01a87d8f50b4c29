import type {
  Engine,
  EngineMessage,
  EnginePresence,
  PresenceEvent,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from '@tidings/engine';
import { newEpoch, scopedKey } from '@tidings/engine';
import { ErrorCode, type Position, patternMatcher, TidingsError } from '@tidings/protocol';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { decodeMessage, decodeSnapshot } from './codec.js';
import {
  type Connection,
  closeConnection,
  clusterNodes,
  openCluster,
  openClusterSubscriber,
  openConnection,
  whenReady,
  whenUsable,
} from './connection.js';
import { FanOut, type ListenerErrorHandler } from './fan-out.js';
import {
  type ChannelKeys,
  channelKeys,
  idempotencyKey,
  indexKey,
  pubsubChannel,
  pubsubGlob,
  scanChannels,
} from './keys.js';
import { presenceStream, RedisPresence } from './presence.js';
import { type Commands, defineScripts } from './scripts.js';
import { closedError, toTidingsError } from './unavailable.js';

export interface RedisEngineOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Every key and pub/sub channel starts with it. Default `tidings:`. */
  prefix?: string;
  /**
   * Passed to both ioredis connections (TLS, password, db, `connectionName`, `retryStrategy`, …); on
   * Cluster, to the connection of every node. Sentinel: `{ sentinels: [{ host, port }], name }`.
   */
  redis?: RedisOptions;
  /**
   * Redis Cluster: a few nodes to discover it from (`url` is then not used) and ioredis Cluster
   * options (`natMap`, `dnsLookup`, …). See the README for the key layout and pub/sub on Cluster.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /**
   * How long a command may take, and how long an operation waits for a connection that is still
   * being established, before failing with ENGINE_UNAVAILABLE (ms, default 5 000).
   */
  timeoutMs?: number;
  /**
   * How long a channel stays known after its last use when nothing else keeps it: a channel only
   * ever read or asked for its position, or one whose messages have all expired (ms, default 300 000).
   */
  idleTtlMs?: number;
  /** How long a snapshot is kept after the channel's last publish or snapshot (ms, default 7 days). */
  snapshotTtlMs?: number;
  /**
   * How long a member outlives its last refresh (ms, default 30 000). Each engine refreshes its own
   * members every third of it, so this is how long the members of a process that died without leaving
   * stay listed. Engines sharing a prefix should agree on it.
   */
  presenceTtlMs?: number;
  /** Called when a listener throws; the default logs to stderr. Delivery to the others goes on. */
  onListenerError?: ListenerErrorHandler;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_PREFIX = 'tidings:';
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_IDLE_TTL_MS = 300_000;
const DEFAULT_SNAPSHOT_TTL_MS = 7 * 24 * 3_600_000;
const DEFAULT_PRESENCE_TTL_MS = 30_000;

function defaultListenerError(error: unknown): void {
  console.error('tidings: a Redis engine listener threw', error);
}

/** A count or duration as a script argument: the script must never see NaN, Infinity or a fraction. */
function intArg(value: number): string {
  return String(Number.isFinite(value) ? Math.max(0, Math.floor(value)) : Number.MAX_SAFE_INTEGER);
}

/**
 * The engine for several server processes sharing one Redis: standalone, behind Sentinel, or a Redis
 * Cluster. Positions, history, snapshots and idempotency keys live in Redis and change only inside Lua
 * scripts (see scripts.ts); live messages reach every process through Redis pub/sub on a second,
 * dedicated connection.
 *
 * Behind Sentinel or on Cluster a failover can lose writes the old master acknowledged; so there every
 * channel remembers the replication history it was written under, and a channel found under another
 * (a promoted replica) starts a new epoch: its clients get a reset, never reused offsets.
 *
 * Operations of one engine go out on one connection in call order. While Redis is unreachable they
 * reject with ENGINE_UNAVAILABLE right away; the connections keep reconnecting with backoff.
 */
export class RedisEngine implements Engine {
  readonly prefix: string;
  readonly #commands: Commands;
  /** Cluster: no channel index (see scripts.ts); `channels()` scans every master. */
  readonly #clustered: boolean;
  /** The last argument of the channel scripts: '1' to start a new epoch after a failover. */
  readonly #lineage: string;
  readonly #subscriber: Redis;
  readonly #fanOut: FanOut<EngineMessage>;
  readonly #presenceFanOut: FanOut<PresenceEvent>;
  readonly #presence: RedisPresence;
  readonly #timeoutMs: number;
  readonly #idleTtlMs: number;
  readonly #snapshotTtlMs: number;
  readonly #keepAlive: ReturnType<typeof setInterval>;
  /** Operations issued while the first connection is being made, released together in call order. */
  #pending: Promise<void> | null = null;
  #closed = false;

  constructor(options: RedisEngineOptions = {}) {
    const url = options.url ?? DEFAULT_URL;
    const user = options.redis ?? {};
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#idleTtlMs = options.idleTtlMs ?? DEFAULT_IDLE_TTL_MS;
    this.#snapshotTtlMs = options.snapshotTtlMs ?? DEFAULT_SNAPSHOT_TTL_MS;
    const name = user.connectionName ?? 'tidings';
    const own = { commandTimeout: this.#timeoutMs, connectionName: name };
    // Standalone and Sentinel: commands issued in one turn of the event loop go out as one write (one
    // pipeline), in call order, which is what makes many concurrent publishes cheap (one socket write
    // per batch rather than per publish). Every engine operation is a script, so all take that path and
    // none overtakes another. Not on Cluster, where ioredis does not follow a redirection that only
    // some commands of a pipeline got.
    const pipelined = { ...own, enableAutoPipelining: true };
    // Pub/sub messages arrive whenever they are published: no command timeout on that connection.
    const sub = { autoResubscribe: false, connectionName: `${name}:sub` };
    const cluster = options.cluster;
    this.#clustered = cluster !== undefined;
    // Standalone Redis has no failover; its restarts lose either everything (a new epoch anyway) or nothing.
    this.#lineage = cluster !== undefined || user.sentinels !== undefined ? '1' : '';
    if (cluster !== undefined) {
      const client = openCluster(cluster.nodes, cluster.options ?? {}, user, own);
      this.#commands = defineScripts(client);
      this.#subscriber = openClusterSubscriber(() => clusterNodes(client, cluster.nodes), user, sub);
    } else {
      this.#commands = defineScripts(openConnection(url, user, pipelined));
      this.#subscriber = openConnection(url, user, sub);
    }
    // ioredis reports connection errors as events; the state is read from `status` instead.
    this.#commands.on('error', () => undefined);
    this.#subscriber.on('error', () => undefined);
    const onListenerError = options.onListenerError ?? defaultListenerError;
    const prefix = this.prefix;
    this.#fanOut = new FanOut(
      this.#subscriber,
      {
        topic: (channel) => pubsubChannel(prefix, channel),
        glob: (pattern) => pubsubGlob(prefix, pattern),
        decode: decodeMessage,
      },
      this.#timeoutMs,
      onListenerError,
    );
    // Presence events share the subscriber connection, on topics of their own.
    this.#presenceFanOut = new FanOut(this.#subscriber, presenceStream(prefix), this.#timeoutMs, (error) =>
      onListenerError(error),
    );
    const presenceTtlMs = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!(presenceTtlMs > 0) || !Number.isSafeInteger(presenceTtlMs)) {
      throw new TidingsError(ErrorCode.invalidField, 'presenceTtlMs must be a positive integer (ms)');
    }
    this.#presence = new RedisPresence(
      {
        prefix,
        run: (send) => this.#run(send),
        usable: () => (this.#commands.status === 'ready' ? this.#commands : undefined),
      },
      this.#presenceFanOut,
      presenceTtlMs,
    );
    // A channel with a listener stays known even when nothing is published to it for a long time.
    const every = Math.min(Math.max(1_000, this.#idleTtlMs / 3), 3_600_000);
    this.#keepAlive = setInterval(() => this.#touch(this.#fanOut.channels()), every);
    this.#keepAlive.unref();
  }

  /** The connection commands go out on (for tests and diagnostics): a Cluster client on Cluster. */
  get commandConnection(): Connection {
    return this.#commands;
  }

  /** Members of channels, kept in Redis with a TTL each process refreshes (see presence.ts). */
  get presence(): EnginePresence {
    return this.#presence;
  }

  /** The dedicated pub/sub connection (for tests and diagnostics). */
  get subscriberConnection(): Redis {
    return this.#subscriber;
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    const { channel, policy, id } = request;
    const key = scopedKey(request);
    const keys = channelKeys(this.prefix, channel);
    const reply = (await this.#run((r) =>
      r.tidingsPublish(
        keys.meta,
        keys.log,
        keys.snap,
        this.#index(keys),
        key === undefined ? keys.meta : idempotencyKey(this.prefix, channel, key),
        channel,
        newEpoch(),
        request.data,
        id ?? '',
        request.ifOffset === undefined ? '' : String(request.ifOffset),
        request.expiresAt !== undefined && Number.isFinite(request.expiresAt)
          ? String(request.expiresAt)
          : '',
        request.origin ?? '',
        intArg(policy.size),
        intArg(policy.ttlMs),
        intArg(policy.idempotencyMs),
        pubsubChannel(this.prefix, channel),
        intArg(this.#idleTtlMs),
        intArg(this.#snapshotTtlMs),
        this.#lineage,
      ),
    )) as [string, string, number, number?];
    const [status, epoch, offset, ts] = reply;
    if (status === 'conflict') {
      throw new TidingsError(
        ErrorCode.conflict,
        `channel ${channel} is at offset ${offset}, not ${request.ifOffset}`,
        { epoch, offset },
      );
    }
    return { epoch, offset, ts: ts as number, duplicate: status === 'dup' };
  }

  async position(channel: string): Promise<Position> {
    const [epoch, offset] = (await this.#run((r) =>
      r.tidingsPosition(...this.#channelArgs(channel), this.#lineage),
    )) as [string, number];
    return { epoch, offset };
  }

  async read(channel: string, after: number, limit: number): Promise<ReadResult> {
    const [epoch, offset, firstOffset, ...encoded] = (await this.#run((r) =>
      r.tidingsRead(...this.#channelArgs(channel), intArg(after), intArg(limit), this.#lineage),
    )) as [string, number, number, ...string[]];
    return { epoch, offset, firstOffset, messages: encoded.map(decodeMessage) };
  }

  async setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position> {
    const [epoch, offset] = (await this.#run((r) =>
      r.tidingsSetSnapshot(
        ...this.#channelArgs(channel),
        data,
        intArg(policy.ttlMs),
        intArg(this.#snapshotTtlMs),
        this.#lineage,
      ),
    )) as [string, number];
    return { epoch, offset };
  }

  /** The leading arguments of the scripts that may create a channel: its keys, the index, a fresh epoch, the idle TTL. */
  #channelArgs(channel: string): string[] {
    const keys = channelKeys(this.prefix, channel);
    return [keys.meta, keys.log, keys.snap, this.#index(keys), channel, newEpoch(), intArg(this.#idleTtlMs)];
  }

  /** The channel index key, or on Cluster the meta key in its place (the scripts then skip the index). */
  #index(keys: ChannelKeys): string {
    return this.#clustered ? keys.meta : indexKey(this.prefix);
  }

  async snapshot(channel: string): Promise<Snapshot | null> {
    const keys = channelKeys(this.prefix, channel);
    const encoded = (await this.#run((r) =>
      r.tidingsSnapshot(
        keys.meta,
        keys.log,
        keys.snap,
        this.#index(keys),
        channel,
        intArg(this.#idleTtlMs),
        newEpoch(),
        this.#lineage,
      ),
    )) as string | null;
    return encoded === null ? null : decodeSnapshot(encoded);
  }

  async subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void> {
    if (this.#closed) throw closedError();
    const stop = await this.#fanOut.subscribe(channelOrPattern, listener);
    return () => {
      stop();
      // Idle time counts from the last listener leaving, as with the memory engine.
      if (!this.#closed && !this.#fanOut.channels().includes(channelOrPattern))
        this.#touch([channelOrPattern]);
    };
  }

  async channels(pattern: string): Promise<string[]> {
    const names = this.#clustered
      ? await this.#run((r) => scanChannels(r as Cluster, this.prefix))
      : ((await this.#run((r) => r.tidingsChannels(indexKey(this.prefix)))) as string[]);
    return (names as string[]).filter(patternMatcher(pattern));
  }

  /** Resolves once both connections are up (waiting as long as that takes); rejects once closed. */
  async ready(): Promise<void> {
    if (this.#closed) throw closedError();
    const up = await Promise.all([whenReady(this.#commands), whenReady(this.#subscriber)]).then(
      () => true,
      (error: unknown) => error,
    );
    if (this.#closed) throw closedError();
    if (up !== true) throw up;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // First, while commands still go out: its members leave now rather than after the TTL.
    this.#presence.close();
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#fanOut.close();
    this.#presenceFanOut.close();
    await Promise.all([closeConnection(this.#commands), closeConnection(this.#subscriber)]);
  }

  /**
   * Sends one command, keeping call order: when the connection is ready it goes out synchronously;
   * while the first connection is being made, calls queue behind one shared wait and go out in order.
   */
  #run(send: (redis: Commands) => Promise<unknown>): Promise<unknown> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#pending === null && this.#commands.status === 'ready') {
      return send(this.#commands).catch((error) => {
        throw toTidingsError(error);
      });
    }
    if (this.#pending === null) {
      const wait = whenUsable(this.#commands, this.#timeoutMs);
      this.#pending = wait;
      const clear = () => {
        if (this.#pending === wait) this.#pending = null;
      };
      // Registered first, so it runs before the queued sends and later calls take the direct path.
      wait.then(clear, clear);
    }
    return this.#pending
      .then(() => {
        if (this.#closed) throw closedError();
        return send(this.#commands);
      })
      .catch((error) => {
        throw toTidingsError(error);
      });
  }

  #touch(channels: readonly string[]): void {
    if (this.#closed || channels.length === 0 || this.#commands.status !== 'ready') return;
    for (const channel of channels) {
      const keys = channelKeys(this.prefix, channel);
      this.#commands
        .tidingsTouch(keys.meta, keys.log, keys.snap, this.#index(keys), channel, intArg(this.#idleTtlMs))
        .catch(() => undefined);
    }
  }
}

export function redisEngine(options?: RedisEngineOptions): RedisEngine {
  return new RedisEngine(options);
}
