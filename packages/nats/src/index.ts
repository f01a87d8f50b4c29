export { NatsEngine, natsEngine } from './nats-engine.js';
export type { NatsEngineOptions } from './options.js';
