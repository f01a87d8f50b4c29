import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { isChannelName, isPattern } from '@tidings/protocol';
import { z } from 'zod';

// The schema of tidings.json. Every message here is what an operator reads next to the path of the
// field (`config.engine.url: expected a redis:// URL`), so each says what a good value looks like.
// Objects are strict: a misspelt field is an error, not a setting silently ignored.

const DEFAULT_PORT = 8080;
const MIN_API_KEY_LENGTH = 32;
/** A dashboard password is typed by a person, not generated: shorter than an API key, still not guessable. */
const MIN_ADMIN_PASSWORD_LENGTH = 12;
const MIN_SECRET_BYTES = 32;

function integer(min: number, max: number, what = `an integer from ${min} to ${max}`) {
  const error = `expected ${what}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const positiveInt = (what = 'a positive integer') => integer(1, Number.MAX_SAFE_INTEGER, what);
const ms = () => integer(1, 2 ** 31 - 1, 'a positive number of milliseconds');
const nonEmpty = (what: string) =>
  z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });

const urlPath = z
  .string({ error: 'expected a path such as "/tidings"' })
  .regex(/^\/[A-Za-z0-9._~\-/]*$/, { error: 'expected a path such as "/tidings"' })
  .transform((path) => path.replace(/\/+$/, '') || '/');

function urlWith(protocols: string[], message: string) {
  return z.string({ error: message }).refine(
    (text) => {
      try {
        return protocols.includes(new URL(text).protocol);
      } catch {
        return false;
      }
    },
    { error: message },
  );
}

const memoryEngine = z.strictObject({ type: z.literal('memory') });

/** Where the SQLite engine keeps its file when the config names no directory (relative to the working directory). */
export const DEFAULT_DATA_DIR = './tidings-data';

/** The SQLite engine's file in its data directory. */
export function sqliteFile(dataDir: string): string {
  return join(dataDir, 'tidings.db');
}

const sqliteEngine = z.strictObject({
  type: z.literal('sqlite'),
  /** The directory of the engine's file, `tidings.db`; one server process per directory. */
  dataDir: nonEmpty('a directory such as "./tidings-data"').default(DEFAULT_DATA_DIR),
  synchronous: z.enum(['normal', 'full'], { error: 'expected "normal" or "full"' }).optional(),
});

const redisEngine = z.strictObject({
  type: z.literal('redis'),
  url: urlWith(['redis:', 'rediss:'], 'expected a redis:// URL').default('redis://127.0.0.1:6379'),
  prefix: nonEmpty('a key prefix such as "tidings:"').default('tidings:'),
  timeoutMs: ms().optional(),
  /** Redis Cluster: a few of its nodes to discover it from; `url` is then not used. */
  nodes: z
    .array(urlWith(['redis:', 'rediss:'], 'expected a redis:// URL of a cluster node'), {
      error: 'expected a list of redis:// URLs of cluster nodes',
    })
    .min(1, { error: 'expected at least one cluster node' })
    .optional(),
});

const natsServer = nonEmpty('a NATS server such as "nats://127.0.0.1:4222"').refine(
  (text) => /^(nats|tls|wss?):\/\/\S+$/.test(text) || /^[^\s/:]+(:\d{1,5})?$/.test(text),
  { error: 'expected a NATS server such as "nats://127.0.0.1:4222" or "127.0.0.1:4222"' },
);

const natsEngine = z.strictObject({
  type: z.literal('nats'),
  servers: z
    .union([natsServer, z.array(natsServer).min(1)], {
      error: 'expected a NATS server such as "nats://127.0.0.1:4222", or a list of them',
    })
    .default('127.0.0.1:4222'),
  stream: z
    .string({ error: 'expected a stream name: letters, digits, "_" and "-"' })
    .regex(/^[A-Za-z0-9_-]{1,200}$/, { error: 'expected a stream name: letters, digits, "_" and "-"' })
    .default('TIDINGS'),
  subjectPrefix: z
    .string({ error: 'expected a subject prefix spelled like a channel name, e.g. "tidings"' })
    .refine((text) => isChannelName(text), {
      error: 'expected a subject prefix spelled like a channel name, e.g. "tidings"',
    })
    .default('tidings'),
  maxAgeMs: integer(0, Number.MAX_SAFE_INTEGER, 'a number of milliseconds (0: no limit)').optional(),
  storage: z.enum(['file', 'memory'], { error: 'expected "file" or "memory"' }).optional(),
});

const engine = z.discriminatedUnion('type', [sqliteEngine, memoryEngine, redisEngine, natsEngine], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'expected "sqlite", "memory", "redis" or "nats"' : undefined,
});

const retention = z.strictObject({
  size: positiveInt('a positive number of messages').optional(),
  ttlMs: ms().optional(),
  idempotencyMs: ms().optional(),
});

const channelPattern = z.string().refine((text) => isChannelName(text) || isPattern(text), {
  error: 'expected a channel name or pattern such as "chat.*"',
});

/** `publish` / `subscribe`: true (every channel), false (none) or a list of channels and patterns. */
const grant = z.union([z.boolean(), z.array(channelPattern)], {
  error: 'expected true, false or a list of channels or patterns such as ["chat.*"]',
});

const trustProxy = z.union(
  [
    integer(0, 16, 'a number of proxies from 0 to 16'),
    z.array(z.string().refine((text) => isIP(text) !== 0, { error: 'expected an IP address' })),
  ],
  { error: 'expected a number of proxies (hops) or a list of their IP addresses' },
);

/** Why an API key is weak, or undefined when it is not (see STANDALONE.md "API key"). */
export function weakApiKey(key: string): string | undefined {
  if (key.length < MIN_API_KEY_LENGTH) return `shorter than ${MIN_API_KEY_LENGTH} characters`;
  if (new Set(key).size === 1) return 'one character repeated';
  return undefined;
}

function isWeak(key: unknown): key is string {
  return typeof key === 'string' && weakApiKey(key) !== undefined;
}

const limits = z.strictObject({
  maxFrameBytes: positiveInt('a positive number of bytes').optional(),
  maxMessageBytes: positiveInt('a positive number of bytes').optional(),
  maxSubscriptions: positiveInt().optional(),
  maxConnectionsPerIdentity: positiveInt().optional(),
  publishRate: z
    .strictObject({
      perSecond: z.number({ error: 'expected a positive number' }).positive(),
      burst: positiveInt(),
    })
    .optional(),
  maxBufferedBytes: positiveInt('a positive number of bytes').optional(),
  maxLongPollWaitMs: ms().optional(),
  requestTimeoutMs: ms().optional(),
});

const origin = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (
        (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text.replace(/\/$/, '')
      );
    } catch {
      return false;
    }
  },
  { error: 'expected an origin such as "https://app.example.com" (scheme, host, port; no path)' },
);

const oneOrMore = (what: string) =>
  z.union([nonEmpty(what), z.array(nonEmpty(what)).min(1)], { error: `expected ${what}, or a list` });

const HMAC = ['HS256', 'HS384', 'HS512'];
const ALGORITHM = /^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

const jwt = z
  .strictObject({
    secret: z
      .string({ error: `expected a secret of at least ${MIN_SECRET_BYTES} bytes` })
      .refine((text) => Buffer.byteLength(text) >= MIN_SECRET_BYTES, {
        error: `expected a secret of at least ${MIN_SECRET_BYTES} bytes`,
      })
      .optional(),
    publicKey: z
      .string({ error: 'expected a PEM public key ("-----BEGIN PUBLIC KEY-----…")' })
      .refine(
        (text) => {
          try {
            return createPublicKey(text).type === 'public';
          } catch {
            return false;
          }
        },
        { error: 'expected a PEM public key ("-----BEGIN PUBLIC KEY-----…")' },
      )
      .optional(),
    algorithms: z
      .array(
        z.string().regex(/^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/, {
          error: 'expected an algorithm such as "HS256", "RS256", "ES256" or "EdDSA"',
        }),
        { error: 'expected a list of algorithms such as ["RS256"]' },
      )
      .min(1, { error: 'expected a list of algorithms such as ["RS256"]' })
      .optional(),
    issuer: oneOrMore('an issuer').optional(),
    audience: oneOrMore('an audience').optional(),
    clockToleranceSec: integer(0, 3600, 'a number of seconds from 0 to 3600').optional(),
    /** false: a request without a token comes in as `anonymous`. */
    required: z.boolean({ error: 'expected true or false' }).optional(),
    /** Write patterns of a token without a `channels.write` claim: default [] (it only reads), or "server" (the `publish` option decides). */
    defaultWrite: z
      .union([z.literal('server'), z.array(channelPattern)], {
        error: 'expected a list of channels or patterns, or "server"',
      })
      .optional(),
  })
  .superRefine((value, context) => {
    const keys = (value.secret === undefined ? 0 : 1) + (value.publicKey === undefined ? 0 : 1);
    if (keys !== 1) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: 'expected exactly one of "secret" or "publicKey" (keys are local: no JWKS URL)',
      });
      return;
    }
    const hmac = value.secret !== undefined;
    // Names that are no algorithm at all were reported already.
    const wrong = (value.algorithms ?? []).filter(
      (alg) => ALGORITHM.test(alg) && HMAC.includes(alg) !== hmac,
    );
    if (wrong.length > 0) {
      context.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: hmac
          ? `a secret verifies HS256/HS384/HS512, not ${wrong.join(', ')}`
          : `a public key verifies signatures, not ${wrong.join(', ')}`,
      });
    }
  });

const hookUrl = urlWith(['http:', 'https:'], 'expected an http:// or https:// URL');

const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const hooks = z.strictObject({
  connect: hookUrl.optional(),
  subscribe: hookUrl.optional(),
  publish: hookUrl.optional(),
  timeoutMs: integer(1, 60_000, 'a number of milliseconds from 1 to 60000').default(2_000),
  /** On a timeout, 5xx or unreachable backend: false (default) refuses, true lets the request through. */
  failOpen: z.boolean({ error: 'expected true or false' }).default(false),
  /** Sent with every hook call, e.g. a shared secret the backend checks. */
  headers: z
    .record(
      z.string().regex(headerName, { error: 'expected a header name' }),
      z.string({ error: 'expected a header value (a string)' }),
    )
    .default({}),
  /** Request headers of the client passed on to the connect hook, e.g. ["cookie"]. */
  forwardHeaders: z
    .array(z.string().regex(headerName, { error: 'expected a header name' }), {
      error: 'expected a list of header names such as ["cookie"]',
    })
    .default([]),
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z
  .strictObject({
    port: integer(0, 65_535).default(DEFAULT_PORT),
    host: nonEmpty('a host name or address such as "0.0.0.0"').default('0.0.0.0'),
    /** Mount path of the client endpoints (`/tidings/ws`, `/tidings/sse`, …). */
    path: urlPath.default('/tidings'),
    /** Mount path of the backend's HTTP API. */
    apiPath: urlPath.default('/api'),
    // Durable by default: a restart (a deploy) keeps every channel's history and position.
    engine: engine.default({ type: 'sqlite', dataDir: DEFAULT_DATA_DIR }),
    /** Retention per channel pattern, first match wins. */
    history: z.record(channelPattern, retention).default({}),
    defaultHistory: retention.optional(),
    limits: limits.default({}),
    origins: z
      .union([z.literal('*'), z.array(origin)], {
        error: 'expected "*" or a list of origins such as ["https://app.example.com"]',
      })
      .optional(),
    /** Channels (or patterns) whose members are tracked: `join`/`leave` frames and `GET /api/presence`. */
    presence: z
      .array(channelPattern, { error: 'expected a list of channels or patterns such as ["chat.*"]' })
      .optional(),
    /**
     * Where clients may publish when their identity has no write patterns (JWT `channels.write`, or the
     * connect hook's identity): false (default) nowhere, true everywhere, or these channels and patterns.
     */
    publish: grant.default(false),
    /** Where clients may subscribe when their identity has no read patterns. Default true: everywhere. */
    subscribe: grant.default(true),
    /** Proxies trusted to tell the client's address (X-Forwarded-For): a hop count or their addresses. */
    trustProxy: trustProxy.optional(),
    jwt: jwt.optional(),
    apiKey: z
      .string({ error: `expected a key of at least ${MIN_API_KEY_LENGTH} characters` })
      .min(1, { error: `expected a key of at least ${MIN_API_KEY_LENGTH} characters` })
      // Headers are trimmed and `Authorization: apikey <key>` ends at a space: such a key cannot be sent.
      .refine((key) => !/\s/.test(key), { error: 'expected a key without spaces or other whitespace' })
      .optional(),
    /** Accept an apiKey shorter than 32 characters or of one repeated character (tests, local demos). */
    allowWeakApiKey: z.boolean({ error: 'expected true or false' }).default(false),
    /**
     * The password of the operators' dashboard at `/admin` (the apiKey logs in too). Without either, the
     * dashboard is off.
     */
    adminPassword: z
      .string({ error: `expected a password of at least ${MIN_ADMIN_PASSWORD_LENGTH} characters` })
      .min(MIN_ADMIN_PASSWORD_LENGTH, {
        error: `expected a password of at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`,
      })
      .max(1_024, { error: 'expected a password of at most 1024 characters' })
      .optional(),
    hooks: hooks.optional(),
    logLevel: z
      .enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}` })
      .default('info'),
    heartbeatMs: ms().optional(),
    /** The server's `writeDelayMs`: write batching on busy connections (default: the server's). */
    writeDelayMs: integer(0, 1_000, 'a number of milliseconds from 0 to 1000').optional(),
    /** How long SIGTERM waits for connections to leave before it cuts them. */
    shutdownDeadlineMs: integer(0, 600_000, 'a number of milliseconds from 0 to 600000').default(5_000),
    /** Serve the browser client as `/tidings.js` (a plain script defining `Tidings`). */
    clientScript: z.boolean({ error: 'expected true or false' }).default(true),
  })
  .refine((config) => config.allowWeakApiKey === true || !isWeak(config.apiKey), {
    path: ['apiKey'],
    // Told beside the other fields' errors, not only once they are fixed.
    when: (payload) => isWeak((payload.value as { apiKey?: unknown } | undefined)?.apiKey),
    error: (issue) =>
      `expected a strong key (${weakApiKey((issue.input as { apiKey: string }).apiKey)}): at least ${MIN_API_KEY_LENGTH} random characters, e.g. \`openssl rand -base64 32\` (or set allowWeakApiKey: true)`,
  })
  .superRefine((config, context) => {
    // The client endpoints, the API and the operations endpoints share one port: no path may hide another.
    const taken = ['/healthz', '/metrics', '/tidings.js', '/admin'];
    for (const field of ['path', 'apiPath'] as const) {
      const path = config[field];
      if (path === '/' || taken.includes(path)) {
        context.addIssue({ code: 'custom', path: [field], message: `expected a path other than "${path}"` });
      }
    }
    const nested = (a: string, b: string) => a === b || a.startsWith(`${b}/`);
    if (nested(config.path, config.apiPath) || nested(config.apiPath, config.path)) {
      context.addIssue({
        code: 'custom',
        path: ['apiPath'],
        message: `expected a path apart from path "${config.path}"`,
      });
    }
  });

/** A validated configuration, every default filled in. */
export type Config = z.output<typeof configSchema>;
/** What tidings.json may hold. */
export type ConfigInput = z.input<typeof configSchema>;
export type EngineConfig = Config['engine'];
export type HooksConfig = NonNullable<Config['hooks']>;
export type JwtConfig = NonNullable<Config['jwt']>;
