import type { Position, PresenceMember } from '@tidings/protocol';

/**
 * The engine is where channels live: it assigns positions, keeps history and snapshots, remembers
 * idempotency keys and streams each channel's messages to every server process. The hub holds all
 * delivery logic (ordering, gap filling, resets), so an engine stays small. One contract test suite
 * (`@tidings/testing`, packages/testing) runs against every engine.
 *
 * Rules every engine keeps:
 * - Offsets of a channel are 1, 2, 3, … with no gaps within one epoch. A new epoch starts at the offset
 *   the engine chooses (usually 0 on creation) whenever the previous history is lost.
 * - Operations called on one engine instance for one channel take effect in call order (the memory
 *   engine applies them synchronously inside the call; a Redis engine sends them on one connection).
 * - `subscribe` delivers each channel's messages in offset order. It may skip some (after a broker
 *   reconnect, say): the hub notices the gap and reads the missing ones with `read`.
 */
export interface Engine {
  /** Assigns the next offset and stores the message, or returns the original on a repeated `id`. */
  publish(request: PublishRequest): Promise<PublishResult>;
  /** The channel's current position, creating the channel (new epoch, offset 0) if it is unknown. */
  position(channel: string): Promise<Position>;
  /** Retained messages with offset > `after`, oldest first, at most `limit`; plus where history stands. */
  read(channel: string, after: number, limit: number): Promise<ReadResult>;
  /** Records a snapshot (state) at the channel's current offset. */
  setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position>;
  snapshot(channel: string): Promise<Snapshot | null>;
  /**
   * Streams messages of a channel, or of every channel matching a pattern (`chat.*`, `chat.>`), to
   * `listener`. The returned promise resolves once the stream is live (anything published later is
   * delivered); the returned function ends it. An engine may deliver messages of channels that do not
   * match a pattern (the hub filters) but never out of offset order for one channel.
   */
  subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void>;
  /** Channels the engine holds a position for that match the pattern (or the name). */
  channels(pattern: string): Promise<string[]>;
  /** Resolves once the engine's connections are up. */
  ready?(): Promise<void>;
  /**
   * Who is in which channel, across every process. Optional: without it the hub refuses presence with
   * UNSUPPORTED. The presence contract suite (`@tidings/testing`, packages/testing) checks an implementation.
   */
  readonly presence?: EnginePresence;
  close(): Promise<void>;
}

export interface StreamListener {
  message(message: EngineMessage): void;
  /**
   * The stream was interrupted (e.g. the broker connection dropped and came back): messages may have
   * been missed, so the hub re-reads every channel it follows from its last position.
   */
  resync?(): void;
}

/** How long a channel keeps what was published to it. */
export interface RetentionPolicy {
  /** At most this many messages. */
  size: number;
  /** Messages older than this (ms) are dropped. A channel with no history, snapshot or subscriber is forgotten after it. */
  ttlMs: number;
  /** Idempotency keys are remembered this long (ms). */
  idempotencyMs: number;
}

export interface PublishRequest {
  channel: string;
  /** The message's data as JSON text (validated and size-checked by the hub). */
  data: string;
  /** Idempotency key, stored with the message. Engines remember it as `scopedKey(request)`. */
  id?: string;
  /**
   * Whose key `id` is: keys of different publishers never match. Undefined: the server's own scope
   * (`hub.publish` without a `publisher`). The server sets it for client publishes.
   */
  publisher?: string;
  /** Fail with CONFLICT unless the channel's last offset is this. */
  ifOffset?: number;
  /** Absolute expiry time, ms since the Unix epoch. */
  expiresAt?: number;
  /** Who published it (a scope id), so the publisher's own subscriptions can skip it. */
  origin?: string;
  policy: RetentionPolicy;
}

/**
 * What an engine remembers a publish's idempotency key under: the key within its publisher's scope, so
 * a publish repeated by the same publisher (after a reconnect, from another process) is recognized and
 * another publisher's key never is. `|` never occurs in the encoded scope, so no two pairs collide.
 */
export function scopedKey(request: Pick<PublishRequest, 'id' | 'publisher'>): string | undefined {
  if (request.id === undefined) return undefined;
  return `${encodeURIComponent(request.publisher ?? '')}|${request.id}`;
}

export interface PublishResult extends Position {
  /** Server time the message was stored, ms. */
  ts: number;
  /** True when `id` was seen before: nothing was stored or delivered this time. */
  duplicate: boolean;
}

export interface EngineMessage {
  channel: string;
  epoch: string;
  offset: number;
  ts: number;
  /** JSON text. */
  data: string;
  id?: string;
  expiresAt?: number;
  origin?: string;
}

export interface ReadResult extends Position {
  /** `epoch` and `offset` are the channel's current position; these are the messages after `after`. */
  messages: EngineMessage[];
  /** Offset of the oldest retained message, or `offset + 1` when nothing is retained. */
  firstOffset: number;
}

export interface Snapshot extends Position {
  ts: number;
  /** JSON text. */
  data: string;
}

/**
 * Presence: the members of each channel, and their join and leave events. The member list is the truth;
 * events are live only and best effort (none is replayed, one may be lost when a connection drops), so
 * a listener that must be exact fetches `members` again after a gap.
 *
 * Liveness belongs to the engine: a member joined through an engine stays until `leave`, or until that
 * engine can no longer vouch for it (closed, or its process died). An engine shared by several processes
 * keeps its members alive itself (Redis: a refresh every TTL / 3) and removes those another process
 * stopped refreshing, with a `leave` event, once their TTL has passed. `close()` removes its members.
 */
export interface EnginePresence {
  /**
   * Adds the member (its `client` is the key) to the channel, with a `join` event if it was not there
   * already; joined again, it keeps its place and takes the new `info`, without an event.
   */
  join(channel: string, member: PresenceMember): Promise<void>;
  /** Removes the connection's member, with a `leave` event if it was there. */
  leave(channel: string, client: string): Promise<void>;
  /** The channel's members now, from every process, in no particular order. */
  members(channel: string): Promise<PresenceMember[]>;
  /**
   * Streams the join and leave events of a channel, or of every channel matching a pattern, from every
   * process. Resolves once live; the returned function ends it.
   */
  subscribe(channelOrPattern: string, listener: PresenceListener): Promise<() => void>;
}

export interface PresenceEvent {
  type: 'join' | 'leave';
  channel: string;
  member: PresenceMember;
}

export type PresenceListener = (event: PresenceEvent) => void;
