import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { type Msg, headers as natsHeaders } from '@nats-io/transport-node';
import type { PresenceMember } from '@tidings/protocol';
import type { PresenceEvent } from '@tidings/server';
import { presenceStreamName } from './streams.js';
import type { Subjects } from './subjects.js';

const Header = {
  /** What the entry says: a member, or why it is no longer one (a tombstone). */
  state: 'Tidings-Presence',
  /** The member's TTL, ms: it expires this long after the entry was stored. */
  ttl: 'Tidings-Presence-Ttl',
  /** The engine instance that keeps the member alive. */
  owner: 'Tidings-Presence-Owner',
  /**
   * The event this write is (`join` or `leave`); none on a refresh. The stream republishes every entry
   * it stores, so an event reaches listeners exactly when, and in the order, its entry was stored.
   */
  event: 'Tidings-Presence-Event',
} as const;

/** Why a member's entry is a tombstone: it left (`leave`), or it expired and was pruned. */
export type Gone = 'left' | 'expired';

/** The latest entry of one member subject. */
export type Entry =
  | { seq: number; state: 'member'; member: PresenceMember; owner: string; expiresAt: number }
  | { seq: number; state: Gone };

/**
 * The JetStream side of presence: a stream holding the latest entry of each (channel, client), a
 * member or a tombstone, read by direct get and written only on the sequence the writer last saw, so
 * of two processes acting on one member exactly one succeeds, and only its write carries the event.
 * Knows subjects and headers; the callers decide which write is an event.
 */
export class PresenceStore {
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #subjects: Subjects;
  readonly #timeout: number;

  constructor(jsm: JetStreamManager, stream: string, subjects: Subjects, timeoutMs: number) {
    this.#jsm = jsm;
    this.#js = jsm.jetstream();
    this.#stream = presenceStreamName(stream);
    this.#subjects = subjects;
    this.#timeout = timeoutMs;
  }

  async get(channel: string, client: string): Promise<Entry | null> {
    const stored = await this.#jsm.direct.getMessage(this.#stream, {
      last_by_subj: this.#subjects.memberSubject(channel, client),
    });
    return stored && decodeEntry(stored);
  }

  /** Every entry of the channel (members and tombstones): one listing, then one direct get each, in parallel. */
  async entries(channel: string): Promise<Entry[]> {
    const info = await this.#jsm.streams.info(this.#stream, {
      subjects_filter: this.#subjects.membersFilter(channel),
    });
    const subjects = Object.keys(info.state.subjects ?? {});
    const found = await Promise.all(
      subjects.map((subject) => this.#jsm.direct.getMessage(this.#stream, { last_by_subj: subject })),
    );
    const entries: Entry[] = [];
    for (const stored of found) {
      const entry = stored && decodeEntry(stored);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /**
   * Stores the member (a `join` event if `join`) if its subject's last sequence is still `expectedSeq`
   * (0: none), else rejects with a wrong-last-sequence JetStreamApiError. Resolves with its sequence.
   */
  async putMember(
    channel: string,
    member: { client: string; json: string },
    owner: string,
    ttlMs: number,
    expectedSeq: number,
    join: boolean,
  ): Promise<number> {
    const h = natsHeaders();
    h.set(Header.state, 'member');
    h.set(Header.ttl, String(ttlMs));
    h.set(Header.owner, owner);
    if (join) h.set(Header.event, 'join');
    return this.#put(this.#subjects.memberSubject(channel, member.client), member.json, h, expectedSeq);
  }

  /**
   * Replaces a member's entry by a tombstone carrying the member's JSON, its `leave` event, on the same
   * condition as `putMember`.
   */
  async putGone(channel: string, member: { client: string; json: string }, why: Gone, expectedSeq: number) {
    const h = natsHeaders();
    h.set(Header.state, why);
    h.set(Header.event, 'leave');
    return this.#put(this.#subjects.memberSubject(channel, member.client), member.json, h, expectedSeq);
  }

  async #put(subject: string, data: string, headers: ReturnType<typeof natsHeaders>, seq: number) {
    const ack = await this.#js.publish(subject, data, {
      headers,
      expect: { lastSubjectSequence: seq },
      timeout: this.#timeout,
    });
    return ack.seq;
  }
}

/** The event a republished entry carries (none for a refresh), with the channel its subject names. */
export function decodeEvent(subjects: Subjects, msg: Msg): PresenceEvent | null {
  const type = msg.headers?.get(Header.event);
  if (type !== 'join' && type !== 'leave') return null;
  const channel = subjects.channelOfMember(subjects.presEvents, msg.subject);
  const member = parseMember(msg.string());
  return channel === null || member === undefined ? null : { type, channel, member };
}

function decodeEntry(stored: StoredMsg): Entry | null {
  const state = stored.header?.get(Header.state);
  if (state === 'left' || state === 'expired') return { seq: stored.seq, state };
  if (state !== 'member') return null;
  const ttl = Number(stored.header.get(Header.ttl));
  const member = parseMember(stored.string());
  if (member === undefined || !(ttl > 0)) return null;
  return {
    seq: stored.seq,
    state,
    member,
    owner: stored.header.get(Header.owner),
    // The NATS server's store time: every process measures expiry from the same clock's writes.
    expiresAt: stored.time.getTime() + ttl,
  };
}

function parseMember(json: string): PresenceMember | undefined {
  try {
    const value = JSON.parse(json) as PresenceMember;
    return typeof value?.client === 'string' && typeof value.user === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
