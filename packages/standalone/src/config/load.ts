import { readFile } from 'node:fs/promises';
import { ConfigError, issueLines } from './config-error.js';
import { applyOverrides, type Flags } from './env.js';
import { type Config, configSchema } from './schema.js';

export interface LoadOptions {
  /** The JSON file; without one, the defaults (and the environment) make the whole configuration. */
  file?: string;
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  flags?: Flags;
}

/** Reads, overrides and validates the configuration. Throws a ConfigError naming every wrong field. */
export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  let raw: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ConfigError([`config: cannot read ${options.file} (${reason})`]);
    }
    raw = parseJson(text, options.file);
  }
  return validateConfig(raw, options.env ?? process.env, options.flags ?? {});
}

/** Validates a configuration object, after the environment and flags override it. */
export function validateConfig(
  raw: unknown,
  env: Readonly<Record<string, string | undefined>> = {},
  flags: Flags = {},
): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(['config: expected a JSON object { … }']);
  }
  const copy = structuredClone(raw) as Record<string, unknown>;
  const sources = applyOverrides(copy, env, flags);
  const result = configSchema.safeParse(copy);
  if (!result.success) throw new ConfigError(issueLines(result.error.issues, sources));
  return result.data;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 says where: "Unexpected token } in JSON at position 42" or "(line 3 column 5)".
    const where = /position (\d+)/.exec((error as Error).message);
    const at = where ? ` at ${lineColumn(text, Number(where[1]))}` : '';
    throw new ConfigError([`config: ${file} is not valid JSON${at}: ${(error as Error).message}`]);
  }
}

function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}
