/**
 * The engine seam of Tidings: the `Engine` interface every engine implements (memory, SQLite, Redis,
 * NATS), the retention defaults, the in-memory engine, and the small pieces engines share. An engine
 * depends on this package and on `@tidings/protocol`, never on the server.
 *
 * @module @tidings/engine
 */
export type {
  Engine,
  EngineMessage,
  EnginePresence,
  PresenceEvent,
  PresenceListener,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from './engine.js';
export { scopedKey } from './engine.js';
export { newEpoch } from './epoch.js';
export { ListenerRegistry } from './listener-registry.js';
export { MemoryEngine, type MemoryEngineOptions, memoryEngine } from './memory-engine.js';
export { MemoryPresence } from './memory-presence.js';
export { DEFAULT_RETENTION } from './retention.js';
