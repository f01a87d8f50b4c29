import { isPattern } from '@tidings/protocol';
import type { Cluster } from 'ioredis';

/**
 * Where a channel lives in Redis. Every key of a channel carries the channel in a hash tag
 * (`{chat.room-1}`): braces never occur in a channel name, so no two channels' keys can collide however
 * the names and idempotency keys are chosen, and a channel's keys share one cluster slot.
 */
export interface ChannelKeys {
  /** Hash `{e: epoch, o: last offset, l: ttlMs of the last publish}`. */
  meta: string;
  /** Stream of retained messages, entry id `0-<offset>`, fields `t` (ts) and `m` (encoded message). */
  log: string;
  /** String: the encoded snapshot. */
  snap: string;
}

export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const base = `${prefix}{${channel}}:`;
  return { meta: `${base}meta`, log: `${base}log`, snap: `${base}snap` };
}

/** String holding the original position of an idempotency key, expiring after `idempotencyMs`. */
export function idempotencyKey(prefix: string, channel: string, id: string): string {
  return `${prefix}{${channel}}:id:${id}`;
}

/**
 * Sorted set of known channel names, scored by when the channel's meta expires (ms). Not on Cluster,
 * where it would be a key outside every channel's slot: there `scanChannels` lists the metas instead.
 */
export function indexKey(prefix: string): string {
  return `${prefix}channels`;
}

const META_SUFFIX = '}:meta';

/**
 * The channels of `prefix` on a Cluster: SCAN for meta keys on every master. A meta exists exactly as
 * long as its channel is known (expired keys are not returned), so this lists what the index would.
 * It costs a walk over every key of the cluster, which is why single-node Redis keeps the index.
 */
export async function scanChannels(cluster: Cluster, prefix: string): Promise<string[]> {
  const match = `${escapeGlob(`${prefix}{`)}*${escapeGlob(META_SUFFIX)}`;
  const found = new Set<string>();
  await Promise.all(
    cluster.nodes('master').map(async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1_000);
        cursor = next;
        for (const key of keys) {
          const channel = key.slice(prefix.length + 1, -META_SUFFIX.length);
          // An idempotency key ending in `}:meta` also matches; a channel name never holds a brace.
          if (!channel.includes('{') && !channel.includes('}')) found.add(channel);
        }
      } while (cursor !== '0');
    }),
  );
  return [...found];
}

/** The Redis pub/sub channel a channel's messages are published on. */
export function pubsubChannel(prefix: string, channel: string): string {
  return `${prefix}m:${channel}`;
}

/** A channel's presence: sorted set of connection ids scored by expiry (ms), and hash id → member JSON. */
export function presenceKeys(prefix: string, channel: string): { expiry: string; members: string } {
  const base = `${prefix}{${channel}}:`;
  return { expiry: `${base}pres`, members: `${base}pmem` };
}

/** The Redis pub/sub channel a channel's join and leave events are published on. */
export function presenceChannel(prefix: string, channel: string): string {
  return `${prefix}p:${channel}`;
}

const GLOB_SPECIAL = /[*?[\]\\]/g;

function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL, '\\$&');
}

/**
 * A Redis glob that matches at least every pub/sub channel of the pattern's channels. Redis `*` also
 * crosses dots, so `chat.*` over-matches `chat.a.b`: subscribers filter with `patternMatcher`.
 */
export function pubsubGlob(prefix: string, pattern: string): string {
  return glob(`${prefix}m:`, pattern);
}

/** As `pubsubGlob`, for presence events. */
export function presenceGlob(prefix: string, pattern: string): string {
  return glob(`${prefix}p:`, pattern);
}

function glob(head: string, pattern: string): string {
  if (!isPattern(pattern)) return escapeGlob(head + pattern);
  const segments = pattern.split('.').map((s) => (s === '*' || s === '>' ? '*' : escapeGlob(s)));
  return `${escapeGlob(head)}${segments.join('.')}`;
}
