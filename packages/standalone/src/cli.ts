import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isTidingsError } from '@tidings/protocol';
import { ConfigError } from './config/config-error.js';
import { loadConfig } from './config/load.js';
import { type Config, weakApiKey } from './config/schema.js';
import { describeEngine } from './engine/describe-engine.js';
import { createLogger } from './logger.js';
import { startedByNpm, watchParent } from './parent-watch.js';
import type { Standalone } from './standalone.js';

/** Exit codes: 0 done, 1 failed while running, 2 wrong usage or configuration (fix it, do not retry). */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

const DEFAULT_CONFIG_FILE = 'tidings.json';

const USAGE = `Usage:
  tidings serve [--config tidings.json] [--port 8080] [--host 0.0.0.0]
  tidings check [--config tidings.json]

  serve   start the server; SIGTERM or SIGINT drains it and exits 0
  check   validate the configuration (file, then environment, then flags) and exit

The configuration file is --config, else TIDINGS_CONFIG, else ./tidings.json if it exists.
See docs/STANDALONE.md.`;

interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/**
 * The `tidings` command. Resolves with the exit code: `check` at once, `serve` once a signal has
 * drained the server (or it failed to start).
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`tidings: ${(error as Error).message}`);
    io.err(USAGE);
    return ExitCode.usage;
  }
  const { command, values } = parsed;
  if (values.help || command === 'help') {
    io.out(USAGE);
    return ExitCode.ok;
  }
  if (command !== 'serve' && command !== 'check') {
    io.err(command === undefined ? 'tidings: name a command' : `tidings: unknown command "${command}"`);
    io.err(USAGE);
    return ExitCode.usage;
  }

  const file = values.config ?? (process.env.TIDINGS_CONFIG || undefined) ?? defaultConfigFile();
  let config: Config;
  try {
    config = await loadConfig({
      ...(file !== undefined && { file }),
      flags: {
        ...(values.port !== undefined && { port: values.port }),
        ...(values.host !== undefined && { host: values.host }),
      },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(`tidings: invalid configuration${file === undefined ? '' : ` (${file})`}`);
    for (const line of error.lines) io.err(line);
    return ExitCode.usage;
  }

  if (command === 'check') {
    io.out(`${file ?? 'configuration'}: OK (${summary(config)})`);
    for (const line of warnings(config)) io.err(line);
    return ExitCode.ok;
  }
  return serve(config, io);
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  return { command: positionals[0], values };
}

async function serve(config: Config, io: Io): Promise<number> {
  const logger = createLogger(config.logLevel);
  let standalone: Standalone;
  try {
    // Loaded here, so `check` does not load the engines' clients.
    const { startStandalone } = await import('./standalone.js');
    standalone = await startStandalone(config, { logger });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    logger.fatal({ code, err: error }, 'could not start');
    io.err(`tidings: could not start: ${(error as Error).message}`);
    return isTidingsError(error) ? ExitCode.usage : ExitCode.failure;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal: the operator does not want to wait for the drain.
        logger.warn({ signal }, 'second signal: exiting without waiting');
        resolve(ExitCode.failure);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      standalone.close().then(
        () => resolve(ExitCode.ok),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(ExitCode.failure);
        },
      );
    };
    process.on('SIGTERM', stop).on('SIGINT', stop);
    if (startedByNpm()) {
      watchParent(() => {
        logger.info('npm exited (npx or npm run was stopped): stopping as on SIGTERM');
        stop('SIGTERM');
      });
    }
  });
}

/** `./tidings.json` when it exists: the file the docs tell you to write is read without `--config`. */
function defaultConfigFile(): string | undefined {
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

function summary(config: Config): string {
  const hooks = (['connect', 'subscribe', 'publish'] as const).filter((hook) => config.hooks?.[hook]);
  return [
    `listen ${config.host}:${config.port}`,
    `path ${config.path}`,
    `engine ${describeEngine(config.engine)}`,
    `api ${config.apiKey === undefined ? 'off (no apiKey)' : `on at ${config.apiPath}`}`,
    `auth ${config.jwt === undefined ? 'none' : config.jwt.secret !== undefined ? 'jwt (secret)' : 'jwt (public key)'}`,
    `hooks ${hooks.length === 0 ? 'none' : hooks.join(', ')}`,
    `publish ${grantText(config.publish)}`,
    `subscribe ${grantText(config.subscribe)}`,
  ].join(', ');
}

function grantText(grant: boolean | string[]): string {
  if (grant === true) return 'open';
  if (grant === false) return 'closed';
  return grant.join(' ');
}

/** What `check` should say beside OK: settings that work but are risky, or do less than they seem to. */
function warnings(config: Config): string[] {
  const out: string[] = [];
  const weak = config.apiKey === undefined ? undefined : weakApiKey(config.apiKey);
  if (weak !== undefined)
    out.push(`warning: apiKey is weak (${weak}); accepted because allowWeakApiKey is true`);
  if (config.hooks?.publish !== undefined && config.publish === false) {
    out.push(
      'warning: hooks.publish is set but publish is false: only identities with write patterns can publish, and the hook only narrows that',
    );
  }
  return out;
}
