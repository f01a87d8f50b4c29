import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  assertChannelName,
  assertChannelOrPattern,
  ErrorCode,
  isPattern,
  type PresenceMember,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';
import type { EnginePresence, PresenceListener } from '@tidings/server';
import { isWrongLastSequence } from './errors.js';
import { KeyedQueue } from './keyed-queue.js';
import { decodeEvent, type Entry, type PresenceStore } from './presence-store.js';
import type { Subjects } from './subjects.js';
import { withTimeout } from './with-timeout.js';

/** What the presence needs from its engine. */
export interface PresenceHost {
  /** The engine's connection, with the presence stream in place. */
  link(): Promise<PresenceLink>;
  /** The error a failed call rejects with (CLOSED once the engine is closed). */
  failure(error: unknown, action: string): TidingsError;
  readonly subjects: Subjects;
  readonly ttlMs: number;
  readonly requestTimeoutMs: number;
}

export interface PresenceLink {
  readonly nc: NatsConnection;
  readonly store: PresenceStore;
}

/** A member this engine keeps alive: its JSON and the sequence of the entry it last wrote. */
interface Local {
  readonly json: string;
  seq: number;
}

// Rewrites lost to another process's write are retried from a fresh read; beyond this many, give up.
const MAX_ATTEMPTS = 20;

/**
 * Presence on JetStream (the stream: presence-store.ts). Each member is one subject holding its latest
 * entry; a member expires `ttlMs` after its entry was stored, and its engine rewrites it every
 * `ttlMs / 3`, so it outlives a dead process only by the TTL. Every write is conditional on the
 * sequence the writer read, so when two processes act on one member (a join and a prune, say) exactly
 * one wins, and only the winner's write carries the event (a header). The stream republishes every
 * entry on a core subject, which listeners subscribe to: an event is heard exactly when its entry is
 * stored, in the stream's order, even if its writer dies right after. Live only, like every event.
 *
 * Expired members are pruned (replaced by a tombstone, with a leave event) by whichever process looks
 * next: every `members` call, and each refresh of the channels this engine has members in or an
 * exact-channel listener on (the Redis engine's semantics), which also times a prune for the next
 * expiry it saw, so a dead process's members leave within the TTL rather than up to a refresh later. A refresh that finds its member's entry
 * replaced learns why: left by another process (forgotten here), or pruned while this process stalled,
 * or lost with the stream's data (joined again, announced again).
 */
export class NatsPresence implements EnginePresence {
  readonly #host: PresenceHost;
  /** Written into each entry, so a refresh can tell its own writes from another process's. */
  readonly #owner = randomBytes(9).toString('base64url');
  /** This engine's members: channel → client → member. */
  readonly #local = new Map<string, Map<string, Local>>();
  /** Exact-channel listeners per channel: their channels are pruned on each refresh. */
  readonly #watched = new Map<string, number>();
  readonly #subscriptions = new Set<Subscription>();
  /** One member's join, leave and refresh run in call order (key: channel + newline + client). */
  readonly #queue = new KeyedQueue();
  readonly #timer: ReturnType<typeof setInterval>;
  /** Per channel, a prune due when the next member of another process would expire unrefreshed. */
  readonly #pruneTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** The connection last used: closing ends the members through it (the engine refuses new calls by then). */
  #lastLink: PresenceLink | undefined;
  #closed = false;

  constructor(host: PresenceHost) {
    this.#host = host;
    this.#timer = setInterval(() => this.#refresh(), Math.max(50, Math.floor(host.ttlMs / 3)));
    this.#timer.unref();
  }

  async join(channel: string, member: PresenceMember): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    const json = JSON.stringify(member);
    let members = this.#local.get(channel);
    if (members === undefined) {
      members = new Map();
      this.#local.set(channel, members);
    }
    const local: Local = { json, seq: 0 };
    members.set(member.client, local);
    try {
      await this.#queued(channel, member.client, async (link) => {
        local.seq = await this.#put(link, channel, member, json);
      });
    } catch (error) {
      // Refused means not a member: the refresh must not bring it in later (unless joined again).
      if (this.#local.get(channel)?.get(member.client) === local) this.#forget(channel, member.client);
      throw this.#host.failure(error, 'presence join');
    }
  }

  async leave(channel: string, client: string): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    // Forgotten first: should NATS not hear of the leave, the member is no longer refreshed and expires.
    this.#forget(channel, client);
    try {
      await this.#queued(channel, client, (link) => this.#end(link, channel, client, 'left'));
    } catch (error) {
      throw this.#host.failure(error, 'presence leave');
    }
  }

  async members(channel: string): Promise<PresenceMember[]> {
    this.#assertOpen();
    assertChannelName(channel);
    try {
      const link = await this.#link();
      const now = Date.now();
      const members: PresenceMember[] = [];
      for (const entry of await link.store.entries(channel)) {
        if (entry.state !== 'member') continue;
        if (entry.expiresAt > now) members.push(entry.member);
        else void this.#prune(link, channel, entry);
      }
      return members;
    } catch (error) {
      throw this.#host.failure(error, 'presence members');
    }
  }

  async subscribe(channelOrPattern: string, listener: PresenceListener): Promise<() => void> {
    this.#assertOpen();
    assertChannelOrPattern(channelOrPattern);
    try {
      const { nc } = await this.#link();
      this.#assertOpen();
      const subjects = this.#host.subjects;
      const matches = patternMatcher(channelOrPattern);
      const sub = nc.subscribe(subjects.presEventFilter(channelOrPattern), {
        callback: (error, msg) => {
          if (error) return;
          // Refreshes carry no event; `chat.>` also hears the members of `chat`, which it does not match.
          const event = decodeEvent(subjects, msg);
          if (event === null || !matches(event.channel)) return;
          try {
            listener(event);
          } catch (thrown) {
            console.error('tidings: a NATS presence listener threw', thrown);
          }
        },
      });
      this.#subscriptions.add(sub);
      const exact = !isPattern(channelOrPattern);
      if (exact) this.#watched.set(channelOrPattern, (this.#watched.get(channelOrPattern) ?? 0) + 1);
      let active = true;
      const stop = () => {
        if (!active) return;
        active = false;
        this.#subscriptions.delete(sub);
        if (!sub.isClosed()) sub.unsubscribe();
        if (!exact) return;
        const left = (this.#watched.get(channelOrPattern) ?? 1) - 1;
        if (left > 0) this.#watched.set(channelOrPattern, left);
        else this.#watched.delete(channelOrPattern);
      };
      try {
        // Once the server has answered a ping sent after SUB, it routes every later event to us.
        await withTimeout(nc.flush(), this.#host.requestTimeoutMs, 'flush');
      } catch (error) {
        stop();
        throw error;
      }
      return stop;
    } catch (error) {
      throw this.#host.failure(error, 'presence subscribe');
    }
  }

  /**
   * Stops refreshing and ends every member of this engine (tombstones and leave events), so the others
   * hear them go now rather than after the TTL. Resolves once that is done, or has failed, within the
   * request timeout; the engine drains its connection after it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const timer of this.#pruneTimers.values()) clearTimeout(timer);
    this.#pruneTimers.clear();
    for (const sub of this.#subscriptions) if (!sub.isClosed()) sub.unsubscribe();
    this.#subscriptions.clear();
    this.#watched.clear();
    const local = [...this.#local].flatMap(([channel, members]) =>
      [...members].map(([client, member]) => ({ channel, client, member })),
    );
    this.#local.clear();
    const link = this.#lastLink;
    if (local.length === 0 || link === undefined) return;
    const ends = local.map(({ channel, client, member }) =>
      this.#queue.run(`${channel}\n${client}`, async () => {
        // Only the entry this engine wrote: another process may have taken the member over since.
        await link.store.putGone(channel, { client, json: member.json }, 'left', member.seq);
      }),
    );
    await withTimeout(Promise.allSettled(ends), this.#host.requestTimeoutMs, 'presence close').catch(
      () => undefined,
    );
  }

  /**
   * Writes the member, as a join when it was not a live member before (an expired entry nobody pruned
   * yet is pruned first, so its leave comes before the join). Resolves with the entry's sequence.
   */
  async #put(link: PresenceLink, channel: string, member: PresenceMember, json: string): Promise<number> {
    const { store } = link;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let entry = await store.get(channel, member.client);
      if (entry?.state === 'member' && entry.expiresAt <= Date.now()) {
        const seq = await this.#prune(link, channel, entry);
        if (seq === null) continue;
        entry = { seq, state: 'expired' };
      }
      const live = entry?.state === 'member';
      try {
        return await store.putMember(
          channel,
          { client: member.client, json },
          this.#owner,
          this.#host.ttlMs,
          entry?.seq ?? 0,
          !live,
        );
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
    }
    throw new TidingsError(ErrorCode.engineUnavailable, `presence of ${channel}: too many concurrent writes`);
  }

  /** Replaces a member's entry by a tombstone, announcing its leave if it was a member. */
  async #end(link: PresenceLink, channel: string, client: string, why: 'left' | 'expired'): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await link.store.get(channel, client);
      if (entry?.state !== 'member') return;
      try {
        await link.store.putGone(channel, memberOf(entry), why, entry.seq);
        return;
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
    }
  }

  /**
   * Ends an expired member if nobody rewrote it since `entry` was read: of the processes racing to, one
   * writes the tombstone and its leave. Resolves with the tombstone's sequence, or null if it lost.
   */
  async #prune(link: PresenceLink, channel: string, entry: Entry): Promise<number | null> {
    if (entry.state !== 'member') return null;
    try {
      return await link.store.putGone(channel, memberOf(entry), 'expired', entry.seq);
    } catch {
      // Rewritten (refreshed, left, pruned by another process) or unreachable: nothing to announce.
      return null;
    }
  }

  #refresh(): void {
    if (this.#closed) return;
    const channels = new Set([...this.#local.keys(), ...this.#watched.keys()]);
    // Nothing to keep alive or watch: an engine that never used presence must not connect for it.
    if (channels.size === 0) return;
    void this.#link()
      .then((link) => {
        for (const channel of channels) {
          for (const client of this.#local.get(channel)?.keys() ?? []) {
            this.#queued(channel, client, (l) => this.#refreshOne(l, channel, client)).catch(() => undefined);
          }
          this.#pruneChannel(link, channel).catch(() => undefined);
        }
      })
      .catch(() => undefined);
  }

  async #refreshOne(link: PresenceLink, channel: string, client: string): Promise<void> {
    const local = this.#local.get(channel)?.get(client);
    if (local === undefined || this.#closed) return;
    try {
      local.seq = await link.store.putMember(
        channel,
        { client, json: local.json },
        this.#owner,
        this.#host.ttlMs,
        local.seq,
        false,
      );
      return;
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
    }
    const entry = await link.store.get(channel, client);
    if (this.#local.get(channel)?.get(client) !== local) return;
    const ours = entry?.state === 'member' && entry.owner === this.#owner;
    if (entry === null || entry.state === 'expired' || ours) {
      // Lost, or pruned while this process stalled: still a member here, so back in, announced if it had gone.
      local.seq = await this.#put(link, channel, JSON.parse(local.json) as PresenceMember, local.json);
    } else {
      // Another process left it for this one, or took the member over: no longer kept alive here.
      this.#forget(channel, client);
    }
  }

  async #pruneChannel(link: PresenceLink, channel: string): Promise<void> {
    const entries = await link.store.entries(channel);
    const now = Date.now();
    const mine = this.#local.get(channel);
    const expired: Entry[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const entry of entries) {
      // This engine's own members are being rewritten by the same refresh: pruning them would only race it.
      if (entry.state !== 'member' || (entry.owner === this.#owner && mine?.has(entry.member.client)))
        continue;
      if (entry.expiresAt <= now) expired.push(entry);
      else next = Math.min(next, entry.expiresAt);
    }
    // A member refreshed in time is rewritten before this fires (the next refresh replaces the timer);
    // one that is not is pruned the moment it expires, not up to a refresh period later.
    clearTimeout(this.#pruneTimers.get(channel));
    this.#pruneTimers.delete(channel);
    if (next < Number.POSITIVE_INFINITY && !this.#closed) {
      const timer = setTimeout(
        () => {
          this.#pruneTimers.delete(channel);
          if (this.#closed || !(this.#local.has(channel) || this.#watched.has(channel))) return;
          this.#pruneChannel(link, channel).catch(() => undefined);
        },
        next - now + 5,
      );
      timer.unref();
      this.#pruneTimers.set(channel, timer);
    }
    await Promise.all(expired.map((entry) => this.#prune(link, channel, entry)));
  }

  #queued(channel: string, client: string, task: (link: PresenceLink) => Promise<void>): Promise<void> {
    return this.#queue.run(`${channel}\n${client}`, async () => task(await this.#link()));
  }

  async #link(): Promise<PresenceLink> {
    const link = await this.#host.link();
    this.#lastLink = link;
    return link;
  }

  #forget(channel: string, client: string): void {
    const members = this.#local.get(channel);
    if (members === undefined) return;
    members.delete(client);
    if (members.size === 0) this.#local.delete(channel);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
  }
}

function memberOf(entry: Entry & { state: 'member' }): { client: string; json: string } {
  return { client: entry.member.client, json: JSON.stringify(entry.member) };
}
