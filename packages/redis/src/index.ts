/**
 * The Redis engine: several server processes share every channel through one Redis.
 *
 * @module @tidings/redis
 */
export { decodeMessage, decodeSnapshot } from './codec.js';
export type { ListenerErrorHandler } from './fan-out.js';
export {
  type ChannelKeys,
  channelKeys,
  idempotencyKey,
  indexKey,
  presenceChannel,
  presenceGlob,
  presenceKeys,
  pubsubChannel,
  pubsubGlob,
} from './keys.js';
export { RedisEngine, type RedisEngineOptions, redisEngine } from './redis-engine.js';
