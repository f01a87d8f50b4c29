/**
 * Environment variables that override the config file (a container sets secrets and addresses this
 * way). Each one is applied to the raw JSON before validation, so a bad value is reported like a bad
 * field, with the variable named. docs/STANDALONE.md lists them: keep the two in step.
 */
export const ENV_VARS = {
  TIDINGS_CONFIG: 'path of the config file (as --config)',
  TIDINGS_PORT: 'port',
  TIDINGS_HOST: 'host',
  TIDINGS_PATH: 'path',
  TIDINGS_API_PATH: 'apiPath',
  TIDINGS_API_KEY: 'apiKey',
  TIDINGS_ALLOW_WEAK_API_KEY: 'allowWeakApiKey: true or false',
  TIDINGS_ADMIN_PASSWORD: 'adminPassword',
  TIDINGS_PUBLISH: 'publish: true, false or a comma-separated list of channels or patterns',
  TIDINGS_SUBSCRIBE: 'subscribe: true, false or a comma-separated list of channels or patterns',
  TIDINGS_TRUST_PROXY: 'trustProxy: a number of proxies or a comma-separated list of their addresses',
  TIDINGS_ENGINE: 'engine.type: sqlite, memory, redis or nats',
  TIDINGS_ENGINE_URL: 'engine.url (redis) or engine.servers (nats, comma-separated)',
  TIDINGS_ENGINE_PREFIX: 'engine.prefix (redis) or engine.subjectPrefix (nats)',
  TIDINGS_ENGINE_STREAM: 'engine.stream (nats)',
  TIDINGS_DATA_DIR: 'engine.dataDir (sqlite; alone, it picks the sqlite engine)',
  TIDINGS_ORIGINS: 'origins: "*" or a comma-separated list',
  TIDINGS_PRESENCE: 'presence: a comma-separated list of channels or patterns',
  TIDINGS_JWT_SECRET: 'jwt.secret (replaces jwt.publicKey)',
  TIDINGS_JWT_PUBLIC_KEY: 'jwt.publicKey, PEM text (replaces jwt.secret)',
  TIDINGS_JWT_ISSUER: 'jwt.issuer',
  TIDINGS_JWT_AUDIENCE: 'jwt.audience',
  TIDINGS_HOOK_CONNECT: 'hooks.connect',
  TIDINGS_HOOK_SUBSCRIBE: 'hooks.subscribe',
  TIDINGS_HOOK_PUBLISH: 'hooks.publish',
  TIDINGS_HOOK_TIMEOUT_MS: 'hooks.timeoutMs',
  TIDINGS_HOOK_FAIL_OPEN: 'hooks.failOpen: true or false',
  TIDINGS_LOG_LEVEL: 'logLevel',
  TIDINGS_SHUTDOWN_DEADLINE_MS: 'shutdownDeadlineMs',
} as const;

export type EnvVar = keyof typeof ENV_VARS;

type Json = Record<string, unknown>;

/** Where the overrides came from, by field path (`engine.url` → `TIDINGS_ENGINE_URL`), for error messages. */
export type Sources = Map<string, string>;

/** Command-line flags that override the file and the environment. */
export interface Flags {
  port?: string;
  host?: string;
}

/** Applies the environment, then the flags, to the raw config object (changed in place). */
export function applyOverrides(
  raw: Json,
  env: Readonly<Record<string, string | undefined>>,
  flags: Flags,
): Sources {
  const sources: Sources = new Map();
  const set = (path: string[], value: unknown, source: string) => {
    let target = raw;
    for (const key of path.slice(0, -1)) {
      if (!isObject(target[key])) target[key] = {};
      target = target[key] as Json;
    }
    target[path[path.length - 1]] = value;
    sources.set(path.join('.'), source);
  };
  const fromEnv = (name: EnvVar, path: string[], parse: (text: string) => unknown = (text) => text) => {
    const text = env[name];
    if (text !== undefined && text !== '') set(path, parse(text), name);
  };

  fromEnv('TIDINGS_PORT', ['port'], number);
  fromEnv('TIDINGS_HOST', ['host']);
  fromEnv('TIDINGS_PATH', ['path']);
  fromEnv('TIDINGS_API_PATH', ['apiPath']);
  fromEnv('TIDINGS_API_KEY', ['apiKey']);
  fromEnv('TIDINGS_ALLOW_WEAK_API_KEY', ['allowWeakApiKey'], boolean);
  fromEnv('TIDINGS_ADMIN_PASSWORD', ['adminPassword']);
  fromEnv('TIDINGS_PUBLISH', ['publish'], grant);
  fromEnv('TIDINGS_SUBSCRIBE', ['subscribe'], grant);
  fromEnv('TIDINGS_TRUST_PROXY', ['trustProxy'], (text) =>
    /^\s*\d+\s*$/.test(text) ? number(text) : list(text),
  );
  applyEngine(raw, env, set);
  fromEnv('TIDINGS_ORIGINS', ['origins'], (text) => (text.trim() === '*' ? '*' : list(text)));
  fromEnv('TIDINGS_PRESENCE', ['presence'], list);
  if (env.TIDINGS_JWT_SECRET) {
    if (isObject(raw.jwt)) delete raw.jwt.publicKey;
    fromEnv('TIDINGS_JWT_SECRET', ['jwt', 'secret']);
  }
  if (env.TIDINGS_JWT_PUBLIC_KEY) {
    if (isObject(raw.jwt)) delete raw.jwt.secret;
    fromEnv('TIDINGS_JWT_PUBLIC_KEY', ['jwt', 'publicKey'], (text) => text.replace(/\\n/g, '\n'));
  }
  fromEnv('TIDINGS_JWT_ISSUER', ['jwt', 'issuer']);
  fromEnv('TIDINGS_JWT_AUDIENCE', ['jwt', 'audience']);
  fromEnv('TIDINGS_HOOK_CONNECT', ['hooks', 'connect']);
  fromEnv('TIDINGS_HOOK_SUBSCRIBE', ['hooks', 'subscribe']);
  fromEnv('TIDINGS_HOOK_PUBLISH', ['hooks', 'publish']);
  fromEnv('TIDINGS_HOOK_TIMEOUT_MS', ['hooks', 'timeoutMs'], number);
  fromEnv('TIDINGS_HOOK_FAIL_OPEN', ['hooks', 'failOpen'], boolean);
  fromEnv('TIDINGS_LOG_LEVEL', ['logLevel']);
  fromEnv('TIDINGS_SHUTDOWN_DEADLINE_MS', ['shutdownDeadlineMs'], number);

  if (flags.port !== undefined) set(['port'], number(flags.port), '--port');
  if (flags.host !== undefined) set(['host'], flags.host, '--host');
  return sources;
}

function applyEngine(
  raw: Json,
  env: Readonly<Record<string, string | undefined>>,
  set: (path: string[], value: unknown, source: string) => void,
): void {
  const url = env.TIDINGS_ENGINE_URL || undefined;
  let type = env.TIDINGS_ENGINE || undefined;
  const current = isObject(raw.engine) ? raw.engine : undefined;
  // A URL alone names its engine by its scheme, so TIDINGS_ENGINE_URL=redis://… is enough.
  const embedded = current === undefined || current.type === 'memory' || current.type === 'sqlite';
  if (type === undefined && url !== undefined && embedded) {
    if (/^rediss?:/.test(url)) type = 'redis';
    else if (/^nats:/.test(url)) type = 'nats';
  }
  if (type !== undefined) {
    // Another engine's fields would be unknown fields of this one.
    if (current === undefined || current.type !== type) raw.engine = {};
    set(['engine', 'type'], type, env.TIDINGS_ENGINE ? 'TIDINGS_ENGINE' : 'TIDINGS_ENGINE_URL');
  }
  const engineType = isObject(raw.engine) ? raw.engine.type : undefined;
  const nats = engineType === 'nats';
  if (url !== undefined) {
    if (nats) set(['engine', 'servers'], list(url), 'TIDINGS_ENGINE_URL');
    else set(['engine', 'url'], url, 'TIDINGS_ENGINE_URL');
  }
  if (env.TIDINGS_ENGINE_PREFIX) {
    set(['engine', nats ? 'subjectPrefix' : 'prefix'], env.TIDINGS_ENGINE_PREFIX, 'TIDINGS_ENGINE_PREFIX');
  }
  if (env.TIDINGS_ENGINE_STREAM)
    set(['engine', 'stream'], env.TIDINGS_ENGINE_STREAM, 'TIDINGS_ENGINE_STREAM');
  if (env.TIDINGS_DATA_DIR) {
    if (engineType === undefined) set(['engine', 'type'], 'sqlite', 'TIDINGS_DATA_DIR');
    set(['engine', 'dataDir'], env.TIDINGS_DATA_DIR, 'TIDINGS_DATA_DIR');
  }
}

/** A number when the text is one; otherwise the text, so validation reports it as the wrong type. */
function number(text: string): unknown {
  const value = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(value) ? value : text;
}

function boolean(text: string): unknown {
  const lower = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  return text;
}

/** true / false, or a list of channels and patterns. */
function grant(text: string): unknown {
  const value = boolean(text);
  return typeof value === 'boolean' ? value : list(text);
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
