import { NatsEngine } from '@tidings/nats';
import { RedisEngine } from '@tidings/redis';
import { type Engine, MemoryEngine } from '@tidings/server';
import { SqliteEngine } from '@tidings/sqlite';
import { type EngineConfig, sqliteFile } from '../config/schema.js';

/**
 * The engine the configuration names. Redis and NATS connect lazily: a server starts even while its
 * engine is down. SQLite opens its file at once, and throws DatabaseLockedError if another process has it.
 */
export function createEngine(config: EngineConfig): Engine {
  switch (config.type) {
    case 'sqlite':
      return new SqliteEngine({
        path: sqliteFile(config.dataDir),
        ...(config.synchronous !== undefined && { synchronous: config.synchronous }),
      });
    case 'memory':
      return new MemoryEngine();
    case 'redis':
      return new RedisEngine({
        url: config.url,
        prefix: config.prefix,
        ...(config.timeoutMs !== undefined && { timeoutMs: config.timeoutMs }),
        ...(config.nodes !== undefined && { cluster: { nodes: config.nodes } }),
      });
    case 'nats':
      return new NatsEngine({
        servers: config.servers,
        stream: config.stream,
        subjectPrefix: config.subjectPrefix,
        name: 'tidings-standalone',
        ...(config.maxAgeMs !== undefined && { maxAgeMs: config.maxAgeMs }),
        ...(config.storage !== undefined && { storage: config.storage }),
      });
  }
}
