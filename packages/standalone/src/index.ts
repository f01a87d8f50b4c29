/**
 * Tidings as a server of its own (`tidings serve`), and the same pieces for embedding or testing it:
 * the CLI, the configuration and `startStandalone`.
 *
 * @module @tidings/standalone
 */
export { ExitCode, main } from './cli.js';
export { ConfigError } from './config/config-error.js';
export { ENV_VARS, type EnvVar } from './config/env.js';
export { type LoadOptions, loadConfig, validateConfig } from './config/load.js';
export { type Config, type ConfigInput, configSchema } from './config/schema.js';
export { HOOK_HEADER, type HookAnswer, type HookKind } from './hooks/backend-hooks.js';
export { createLogger, type Logger } from './logger.js';
export { Metrics } from './ops/metrics.js';
export { CONTROL_CHANNEL, HEALTH_CHANNEL, isReserved } from './reserved.js';
export {
  CLIENT_SCRIPT_PATH,
  HEALTH_PATH,
  METRICS_PATH,
  type Standalone,
  type StandaloneOptions,
  startStandalone,
} from './standalone.js';
