export { DatabaseLockedError, SCHEMA_VERSION, type Synchronous } from './open-database.js';
export { SqliteEngine, type SqliteEngineOptions, sqliteEngine } from './sqlite-engine.js';
