import type { EnginePresence, PresenceEvent, PresenceListener } from '@tidings/engine';
import { ErrorCode, type PresenceMember, TidingsError } from '@tidings/protocol';
import type { FanOut, PubSubStream } from './fan-out.js';
import { presenceChannel, presenceGlob, presenceKeys } from './keys.js';
import type { Commands } from './scripts.js';

/** What the presence needs from its engine. */
export interface PresenceHost {
  readonly prefix: string;
  /** Sends a command in call order, rejecting with a TidingsError (see RedisEngine). */
  run(send: (redis: Commands) => Promise<unknown>): Promise<unknown>;
  /** The command connection when it can take a command now; background work skips a beat otherwise. */
  usable(): Commands | undefined;
}

/** Members refreshed in one script call: bounds the script's run time and its argument list. */
const REFRESH_BATCH = 500;

/** The pub/sub stream of presence events, for a FanOut on the engine's subscriber connection. */
export function presenceStream(prefix: string): PubSubStream<PresenceEvent> {
  return {
    topic: (channel) => presenceChannel(prefix, channel),
    glob: (pattern) => presenceGlob(prefix, pattern),
    decode: decodeEvent,
  };
}

/**
 * Presence on Redis (keys and scripts: keys.ts, scripts.ts). A member expires `ttlMs` after it was last
 * refreshed; this engine refreshes its own members every `ttlMs / 3`, so they outlive it only by the
 * TTL if its process dies without leaving. Each refresh also prunes the channel, as does every call, so
 * the members of a dead process are removed, with a leave event, by whichever process comes next: the
 * engine refreshes every channel it has members in or an exact-channel listener on.
 */
export class RedisPresence implements EnginePresence {
  readonly #host: PresenceHost;
  readonly #fanOut: FanOut<PresenceEvent>;
  readonly #ttlMs: number;
  /** This engine's members: channel → client → member JSON. */
  readonly #local = new Map<string, Map<string, string>>();
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(host: PresenceHost, fanOut: FanOut<PresenceEvent>, ttlMs: number) {
    this.#host = host;
    this.#fanOut = fanOut;
    this.#ttlMs = ttlMs;
    this.#timer = setInterval(() => this.#refresh(), Math.max(50, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  async join(channel: string, member: PresenceMember): Promise<void> {
    this.#assertOpen();
    const json = JSON.stringify(member);
    let members = this.#local.get(channel);
    if (members === undefined) {
      members = new Map();
      this.#local.set(channel, members);
    }
    members.set(member.client, json);
    try {
      await this.#host.run((r) =>
        r.tidingsPresenceJoin(...this.#args(channel), String(this.#ttlMs), member.client, json),
      );
    } catch (error) {
      // Refused means not a member: the refresh must not bring it in later (unless it was joined again).
      if (this.#local.get(channel)?.get(member.client) === json) this.#forget(channel, member.client);
      throw error;
    }
  }

  async leave(channel: string, client: string): Promise<void> {
    this.#assertOpen();
    // Forgotten first: should Redis not hear of the leave, the member is no longer refreshed and expires.
    this.#forget(channel, client);
    await this.#host.run((r) => r.tidingsPresenceLeave(...this.#args(channel), client));
  }

  async members(channel: string): Promise<PresenceMember[]> {
    this.#assertOpen();
    const found = (await this.#host.run((r) => r.tidingsPresenceMembers(...this.#args(channel)))) as string[];
    const members: PresenceMember[] = [];
    for (const json of found) {
      const member = parseMember(json);
      if (member !== undefined) members.push(member);
    }
    return members;
  }

  subscribe(channelOrPattern: string, listener: PresenceListener): Promise<() => void> {
    return this.#fanOut.subscribe(channelOrPattern, { message: listener });
  }

  /** Stops refreshing and leaves with every member, so the others hear them go now rather than after the TTL. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const redis = this.#host.usable();
    for (const [channel, members] of this.#local) {
      for (const client of members.keys()) {
        // Sent before the connection's QUIT, which Redis answers only after them.
        redis?.tidingsPresenceLeave(...this.#args(channel), client).catch(() => undefined);
      }
    }
    this.#local.clear();
  }

  #refresh(): void {
    const redis = this.#host.usable();
    if (this.#closed || redis === undefined) return;
    const channels = new Set([...this.#local.keys(), ...this.#fanOut.channels()]);
    const ttl = String(this.#ttlMs);
    for (const channel of channels) {
      const pairs = [...(this.#local.get(channel) ?? [])].flat();
      let start = 0;
      do {
        const batch = pairs.slice(start, start + 2 * REFRESH_BATCH);
        redis.tidingsPresenceJoin(...this.#args(channel), ttl, ...batch).catch(() => undefined);
        start += 2 * REFRESH_BATCH;
      } while (start < pairs.length);
    }
  }

  #forget(channel: string, client: string): void {
    const members = this.#local.get(channel);
    if (members === undefined) return;
    members.delete(client);
    if (members.size === 0) this.#local.delete(channel);
  }

  #args(channel: string): [string, string, string, string] {
    const keys = presenceKeys(this.#host.prefix, channel);
    return [keys.expiry, keys.members, channel, presenceChannel(this.#host.prefix, channel)];
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the Redis engine is closed');
  }
}

function parseMember(json: string): PresenceMember | undefined {
  try {
    const value = JSON.parse(json) as PresenceMember;
    return typeof value?.client === 'string' && typeof value.user === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function decodeEvent(text: string): PresenceEvent {
  const value = JSON.parse(text) as PresenceEvent;
  if (
    (value?.type !== 'join' && value?.type !== 'leave') ||
    typeof value.channel !== 'string' ||
    typeof value.member?.client !== 'string' ||
    typeof value.member.user !== 'string'
  ) {
    throw new TidingsError(ErrorCode.internal, 'malformed presence event in Redis');
  }
  return value;
}
