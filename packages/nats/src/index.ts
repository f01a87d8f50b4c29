/**
 * The NATS JetStream engine: several server processes share every channel through one JetStream.
 *
 * @module @tidings/nats
 */
export { NatsEngine, natsEngine } from './nats-engine.js';
export type { NatsEngineOptions } from './options.js';
