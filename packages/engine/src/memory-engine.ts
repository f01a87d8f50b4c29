import { ErrorCode, type Position, patternMatcher, TidingsError } from '@tidings/protocol';
import type {
  Engine,
  EngineMessage,
  EnginePresence,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from './engine.js';
import { scopedKey } from './engine.js';
import { newEpoch } from './epoch.js';
import { ListenerRegistry } from './listener-registry.js';
import { MemoryPresence } from './memory-presence.js';

export interface MemoryEngineOptions {
  /** Clock in ms since the Unix epoch; tests inject one to move time by hand. */
  now?: () => number;
  /** How often expired messages and keys are dropped and idle channels forgotten (ms, default 10 000; 0 turns the timer off). */
  sweepIntervalMs?: number;
  /**
   * How long a channel that no publish or snapshot has given a policy (one only ever read or asked for
   * its position) stays known while idle, ms (default 300 000).
   */
  idleTtlMs?: number;
  /**
   * Called when a listener throws (`message` is absent for a presence listener); the default logs to
   * stderr. Delivery to the others goes on.
   */
  onListenerError?: (error: unknown, message?: EngineMessage) => void;
}

const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
const DEFAULT_IDLE_TTL_MS = 300_000;
// The retained log is trimmed by moving a head index; the array is compacted only once the dead
// prefix is both this long and at least half of it, which keeps trimming amortised O(1).
const COMPACT_MIN_HEAD = 64;

interface IdempotencyEntry {
  result: PublishResult;
  expiresAt: number;
}

/**
 * A channel the engine holds a position for: a "known channel". It exists from the first call that
 * names it (publish, position, read, setSnapshot) until a sweep forgets it; using it after that starts
 * a new epoch at offset 0.
 */
interface ChannelState {
  readonly name: string;
  readonly epoch: string;
  offset: number;
  /** Retained messages are `log[head..]`, oldest first, with contiguous offsets. */
  log: (EngineMessage | undefined)[];
  head: number;
  snapshot: Snapshot | null;
  /** Insertion order is publish order, so expired keys sit at the front (while the window is unchanged). */
  ids: Map<string, IdempotencyEntry>;
  lastActive: number;
  /** The policy of the last publish or snapshot, used by the sweep. */
  policy: RetentionPolicy | null;
}

function defaultListenerError(error: unknown): void {
  console.error('tidings: an engine listener threw', error);
}

/**
 * The engine of a single server process: everything lives in this process's memory and is lost when
 * it exits. Every method applies its effect synchronously inside the call and returns a settled
 * promise, so the hub can rely on ordering without awaiting (a listener registered by `subscribe` is
 * live before the call returns; `publish` has delivered to every listener before it returns).
 */
export class MemoryEngine implements Engine {
  readonly #now: () => number;
  readonly #idleTtlMs: number;
  readonly #onListenerError: (error: unknown, message?: EngineMessage) => void;
  readonly #channels = new Map<string, ChannelState>();
  readonly #listeners = new ListenerRegistry<StreamListener>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #presence: MemoryPresence;

  constructor(options: MemoryEngineOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#idleTtlMs = options.idleTtlMs ?? DEFAULT_IDLE_TTL_MS;
    this.#onListenerError = options.onListenerError ?? defaultListenerError;
    this.#presence = new MemoryPresence(this.#onListenerError);
    const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (interval > 0 && Number.isFinite(interval)) {
      this.#timer = setInterval(() => this.sweep(), interval);
      this.#timer.unref();
    }
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    this.#assertOpen();
    const now = this.#now();
    const state = this.#channel(request.channel, now);
    const { policy, id } = request;
    state.policy = policy;

    // The key is checked before `ifOffset` so that retrying a conditional publish that succeeded
    // returns its result instead of a conflict with itself.
    const key = scopedKey(request);
    if (key !== undefined) {
      const seen = state.ids.get(key);
      if (seen !== undefined) {
        if (seen.expiresAt > now) return { ...seen.result, duplicate: true };
        state.ids.delete(key);
      }
    }
    if (request.ifOffset !== undefined && request.ifOffset !== state.offset) {
      throw new TidingsError(
        ErrorCode.conflict,
        `channel ${request.channel} is at offset ${state.offset}, not ${request.ifOffset}`,
        { epoch: state.epoch, offset: state.offset },
      );
    }

    const offset = ++state.offset;
    const message: EngineMessage = {
      channel: request.channel,
      epoch: state.epoch,
      offset,
      ts: now,
      data: request.data,
    };
    if (id !== undefined) message.id = id;
    if (request.expiresAt !== undefined) message.expiresAt = request.expiresAt;
    if (request.origin !== undefined) message.origin = request.origin;

    state.log.push(message);
    const overflow = state.log.length - state.head - policy.size;
    if (overflow > 0) this.#dropOldest(state, overflow);
    this.#trimByAge(state, now, policy.ttlMs);

    const result: PublishResult = { epoch: state.epoch, offset, ts: now, duplicate: false };
    if (key !== undefined) {
      pruneIds(state.ids, now);
      state.ids.set(key, { result, expiresAt: now + policy.idempotencyMs });
    }

    this.#deliver(message);
    return result;
  }

  get presence(): EnginePresence {
    return this.#presence;
  }

  async position(channel: string): Promise<Position> {
    this.#assertOpen();
    const state = this.#channel(channel, this.#now());
    return { epoch: state.epoch, offset: state.offset };
  }

  async read(channel: string, after: number, limit: number): Promise<ReadResult> {
    this.#assertOpen();
    const now = this.#now();
    const state = this.#channel(channel, now);
    if (state.policy) this.#trimByAge(state, now, state.policy.ttlMs);
    const { log, head } = state;
    const retained = log.length - head;
    const firstOffset = retained > 0 ? state.offset - retained + 1 : state.offset + 1;
    const start = head + Math.max(0, after + 1 - firstOffset);
    const end = Math.min(log.length, start + Math.max(0, limit));
    const messages = start < end ? (log.slice(start, end) as EngineMessage[]) : [];
    return { epoch: state.epoch, offset: state.offset, messages, firstOffset };
  }

  async setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position> {
    this.#assertOpen();
    const now = this.#now();
    const state = this.#channel(channel, now);
    state.policy = policy;
    state.snapshot = { epoch: state.epoch, offset: state.offset, ts: now, data };
    return { epoch: state.epoch, offset: state.offset };
  }

  async snapshot(channel: string): Promise<Snapshot | null> {
    this.#assertOpen();
    const state = this.#channels.get(channel);
    if (!state?.snapshot) return null;
    state.lastActive = this.#now();
    return { ...state.snapshot };
  }

  async subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void> {
    this.#assertOpen();
    return this.#listeners.add(channelOrPattern, listener, this.#lastLeft);
  }

  // Idle time counts from the last subscriber leaving, not from its last publish.
  readonly #lastLeft = (channel: string): void => {
    const state = this.#channels.get(channel);
    if (state && !this.#closed) state.lastActive = this.#now();
  };

  async channels(pattern: string): Promise<string[]> {
    this.#assertOpen();
    const matches = patternMatcher(pattern);
    const names: string[] = [];
    for (const name of this.#channels.keys()) if (matches(name)) names.push(name);
    return names;
  }

  async ready(): Promise<void> {
    this.#assertOpen();
  }

  /**
   * Drops age-expired messages and expired idempotency keys, and forgets every channel that holds
   * nothing (no retained message, snapshot, exact-channel listener or live idempotency key) and has been
   * idle for its policy's `ttlMs`. Runs on a timer; callable directly from tests.
   */
  sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const [name, state] of this.#channels) {
      const ttlMs = state.policy?.ttlMs ?? this.#idleTtlMs;
      this.#trimByAge(state, now, ttlMs);
      pruneAllIds(state.ids, now);
      if (
        state.log.length === state.head &&
        state.snapshot === null &&
        state.ids.size === 0 &&
        !this.#listeners.has(name) &&
        now - state.lastActive >= ttlMs
      ) {
        this.#channels.delete(name);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.#channels.clear();
    this.#presence.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
  }

  #channel(name: string, now: number): ChannelState {
    let state = this.#channels.get(name);
    if (state === undefined) {
      state = {
        name,
        epoch: newEpoch(),
        offset: 0,
        log: [],
        head: 0,
        snapshot: null,
        ids: new Map(),
        lastActive: now,
        policy: null,
      };
      this.#channels.set(name, state);
    } else {
      state.lastActive = now;
    }
    return state;
  }

  #trimByAge(state: ChannelState, now: number, ttlMs: number): void {
    const cutoff = now - ttlMs;
    const { log } = state;
    let dead = 0;
    for (let i = state.head; i < log.length && (log[i] as EngineMessage).ts < cutoff; i++) dead++;
    if (dead > 0) this.#dropOldest(state, dead);
  }

  #dropOldest(state: ChannelState, count: number): void {
    const { log } = state;
    const end = state.head + count;
    // Clearing the slots lets the collector free the data before the next compaction.
    for (let i = state.head; i < end; i++) log[i] = undefined;
    state.head = end;
    if (end === log.length) {
      state.log = [];
      state.head = 0;
    } else if (end >= COMPACT_MIN_HEAD && end * 2 >= log.length) {
      state.log = log.slice(end);
      state.head = 0;
    }
  }

  #deliver(message: EngineMessage): void {
    this.#listeners.forEach(message.channel, this.#call, message);
  }

  // An arrow field, so the registry can call it without a closure per message.
  readonly #call = (listener: StreamListener, message: EngineMessage): void => {
    try {
      listener.message(message);
    } catch (error) {
      try {
        this.#onListenerError(error, message);
      } catch {
        // A failing error handler must not stop delivery either.
      }
    }
  };
}

/** Drops expired keys from the front, where publish order puts the oldest. */
function pruneIds(ids: Map<string, IdempotencyEntry>, now: number): void {
  for (const [key, entry] of ids) {
    if (entry.expiresAt > now) return;
    ids.delete(key);
  }
}

/** Drops every expired key, wherever a changed window left it. */
function pruneAllIds(ids: Map<string, IdempotencyEntry>, now: number): void {
  for (const [key, entry] of ids) if (entry.expiresAt <= now) ids.delete(key);
}

export function memoryEngine(options?: MemoryEngineOptions): MemoryEngine {
  return new MemoryEngine(options);
}
