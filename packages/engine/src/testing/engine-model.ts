/**
 * A reference model of what an engine must answer, for property tests: plain arrays and maps, no
 * time. Retention by age and idempotency expiry are left out, so use it with windows longer than the
 * test; `size` trimming is exact.
 */
export interface ModelMessage {
  offset: number;
  data: string;
  id?: string;
}

export interface ModelSnapshot {
  offset: number;
  data: string;
}

export type ModelPublishOutcome =
  | { kind: 'published'; offset: number }
  | { kind: 'duplicate'; offset: number }
  /** `offset` is the channel's current offset, which the CONFLICT error must report. */
  | { kind: 'conflict'; offset: number };

export interface ModelRead {
  offset: number;
  firstOffset: number;
  messages: ModelMessage[];
}

interface ModelChannel {
  offset: number;
  /** Every message ever published, so `delivered` can answer after trimming. */
  published: ModelMessage[];
  snapshot: ModelSnapshot | null;
  ids: Map<string, number>;
}

export class EngineModel {
  readonly #channels = new Map<string, ModelChannel>();

  /** `size` is the retention policy's message limit. */
  constructor(readonly size: number = Number.POSITIVE_INFINITY) {}

  publish(channel: string, data: string, id?: string, ifOffset?: number): ModelPublishOutcome {
    const state = this.#channel(channel);
    // Same order as the engines: a repeated key wins over a stale `ifOffset`, so retrying a
    // conditional publish that went through is not a conflict.
    if (id !== undefined) {
      const seen = state.ids.get(id);
      if (seen !== undefined) return { kind: 'duplicate', offset: seen };
    }
    if (ifOffset !== undefined && ifOffset !== state.offset)
      return { kind: 'conflict', offset: state.offset };
    const offset = ++state.offset;
    const message: ModelMessage = { offset, data };
    if (id !== undefined) {
      message.id = id;
      state.ids.set(id, offset);
    }
    state.published.push(message);
    return { kind: 'published', offset };
  }

  position(channel: string): number {
    return this.#channel(channel).offset;
  }

  read(channel: string, after: number, limit: number): ModelRead {
    const state = this.#channel(channel);
    const retained = state.published.slice(Math.max(0, state.published.length - this.size));
    const firstOffset = retained.length > 0 ? (retained[0] as ModelMessage).offset : state.offset + 1;
    const messages = retained.filter((m) => m.offset > after).slice(0, Math.max(0, limit));
    return { offset: state.offset, firstOffset, messages };
  }

  setSnapshot(channel: string, data: string): number {
    const state = this.#channel(channel);
    state.snapshot = { offset: state.offset, data };
    return state.offset;
  }

  snapshot(channel: string): ModelSnapshot | null {
    return this.#channels.get(channel)?.snapshot ?? null;
  }

  /** What a listener subscribed before the first publish must have received, in order. */
  delivered(channel: string): ModelMessage[] {
    return [...(this.#channels.get(channel)?.published ?? [])];
  }

  #channel(name: string): ModelChannel {
    let state = this.#channels.get(name);
    if (!state) {
      state = { offset: 0, published: [], snapshot: null, ids: new Map() };
      this.#channels.set(name, state);
    }
    return state;
  }
}
