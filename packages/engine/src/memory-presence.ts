import { ErrorCode, type PresenceMember, TidingsError } from '@tidings/protocol';
import type { EnginePresence, PresenceEvent, PresenceListener } from './engine.js';
import { ListenerRegistry } from './listener-registry.js';

/**
 * The presence of the memory engine: one process, so its members need no expiry (they live exactly as
 * long as the connections that joined, which leave when they close). Events are delivered synchronously
 * inside `join` and `leave`, like the memory engine's messages.
 */
export class MemoryPresence implements EnginePresence {
  readonly #channels = new Map<string, Map<string, PresenceMember>>();
  readonly #listeners = new ListenerRegistry<PresenceListener>();
  readonly #onListenerError: (error: unknown) => void;
  #closed = false;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  async join(channel: string, member: PresenceMember): Promise<void> {
    this.#assertOpen();
    let members = this.#channels.get(channel);
    if (members === undefined) {
      members = new Map();
      this.#channels.set(channel, members);
    }
    const known = members.has(member.client);
    // Frozen: every listener and every `members` caller shares the one object.
    const stored = deepFreeze(structuredClone(member));
    members.set(member.client, stored);
    if (!known) this.#emit({ type: 'join', channel, member: stored });
  }

  async leave(channel: string, client: string): Promise<void> {
    this.#assertOpen();
    const members = this.#channels.get(channel);
    const member = members?.get(client);
    if (members === undefined || member === undefined) return;
    members.delete(client);
    if (members.size === 0) this.#channels.delete(channel);
    this.#emit({ type: 'leave', channel, member });
  }

  async members(channel: string): Promise<PresenceMember[]> {
    this.#assertOpen();
    return [...(this.#channels.get(channel)?.values() ?? [])];
  }

  async subscribe(channelOrPattern: string, listener: PresenceListener): Promise<() => void> {
    this.#assertOpen();
    return this.#listeners.add(channelOrPattern, listener);
  }

  close(): void {
    this.#closed = true;
    this.#channels.clear();
    this.#listeners.clear();
  }

  #emit(event: PresenceEvent): void {
    this.#listeners.forEach(event.channel, this.#call, event);
  }

  readonly #call = (listener: PresenceListener, event: PresenceEvent): void => {
    try {
      listener(event);
    } catch (error) {
      try {
        this.#onListenerError(error);
      } catch {
        // A failing error handler must not stop delivery either.
      }
    }
  };

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
