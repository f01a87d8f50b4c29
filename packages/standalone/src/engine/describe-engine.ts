import { resolve } from 'node:path';
import { type EngineConfig, sqliteFile } from '../config/schema.js';

/** Where the engine is, for logs: never a password from the URL. */
export function describeEngine(config: EngineConfig): string {
  switch (config.type) {
    case 'sqlite':
      return `sqlite ${resolve(sqliteFile(config.dataDir))}`;
    case 'memory':
      return 'memory';
    case 'redis': {
      const url = new URL(config.url);
      url.username = '';
      url.password = '';
      return `redis ${url.toString()} prefix ${config.prefix}`;
    }
    case 'nats':
      return `nats ${[config.servers].flat().join(',')} stream ${config.stream}`;
  }
}
