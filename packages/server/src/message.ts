import type { EngineMessage, Snapshot } from '@tidings/engine';
import { FrameType } from '@tidings/protocol';

/** What a subscription's handler receives. Frozen: a handler cannot change what others receive. */
export interface Message<T = unknown> {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  /** Server time the message was stored, ms since the Unix epoch. */
  readonly ts: number;
  readonly data: T;
  /** True when this is the channel's snapshot (its state), not a single published message. */
  readonly snapshot: boolean;
  /** The idempotency key it was published with, if any. */
  readonly id?: string;
  /** When it stops being delivered, ms since the Unix epoch. */
  readonly expiresAt?: number;
}

/**
 * One message as it travels through a server process: created once per process per message and shared
 * by every subscription, so the data is parsed at most once and the wire frame encoded at most once.
 */
export class Envelope implements Message {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly ts: number;
  readonly snapshot: boolean;
  readonly id?: string;
  readonly expiresAt?: number;
  /** Scope id whose subscriptions must not receive it (a publish with `echo: false`). */
  readonly origin?: string;
  /** The pattern subscription it travels for, if any: the client routes it by this. */
  readonly pattern?: string;
  /** The data as JSON text. */
  readonly json: string;
  #data: unknown;
  #parsed = false;
  #frame: string | undefined;

  constructor(source: EngineMessage | (Snapshot & { channel: string }), snapshot = false, pattern?: string) {
    this.channel = source.channel;
    this.epoch = source.epoch;
    this.offset = source.offset;
    this.ts = source.ts;
    this.json = source.data;
    this.snapshot = snapshot;
    if ('id' in source && source.id !== undefined) this.id = source.id;
    if ('expiresAt' in source && source.expiresAt !== undefined) this.expiresAt = source.expiresAt;
    if ('origin' in source && source.origin !== undefined) this.origin = source.origin;
    if (pattern !== undefined) this.pattern = pattern;
    Object.freeze(this);
  }

  get data(): unknown {
    if (!this.#parsed) {
      this.#data = deepFreeze(JSON.parse(this.json));
      this.#parsed = true;
    }
    return this.#data;
  }

  /** The `message` or `snapshot` frame of the wire protocol, encoded once for every connection. */
  get frame(): string {
    if (this.#frame === undefined) {
      const type = this.snapshot ? FrameType.snapshot : FrameType.message;
      const via = this.pattern === undefined ? '' : `,"pattern":${JSON.stringify(this.pattern)}`;
      this.#frame = `{"type":"${type}","channel":${JSON.stringify(this.channel)}${via},"epoch":"${this.epoch}","offset":${this.offset},"ts":${this.ts},"data":${this.json}}`;
    }
    return this.#frame;
  }

  isExpired(now: number): boolean {
    return this.expiresAt !== undefined && this.expiresAt <= now;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      channel: this.channel,
      epoch: this.epoch,
      offset: this.offset,
      ts: this.ts,
      data: this.data,
    };
    if (this.snapshot) out.snapshot = true;
    if (this.id !== undefined) out.id = this.id;
    if (this.expiresAt !== undefined) out.expiresAt = this.expiresAt;
    return out;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
