import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ContentType, ErrorCode, errorFrame, TidingsError } from '@tidings/protocol';
import {
  createHub,
  createTidingsServer,
  DEFAULT_LIMITS,
  type Hub,
  type Limits,
  type Schemas,
  type TidingsServer,
} from '@tidings/server';
import { ADMIN_PATH, Admin } from './admin/admin.js';
import { LiveView } from './admin/live-view.js';
import { ProcessReports } from './admin/process-reports.js';
import { Api } from './api/api.js';
import { type Config, weakApiKey } from './config/schema.js';
import { Control } from './control.js';
import { createEngine } from './engine/create-engine.js';
import { describeEngine } from './engine/describe-engine.js';
import { MeteredEngine } from './engine/metered-engine.js';
import { createAccess } from './hooks/access.js';
import { BackendHooks } from './hooks/backend-hooks.js';
import { createLogger, type Logger } from './logger.js';
import { ClientScript } from './ops/client-script.js';
import { Health } from './ops/health.js';
import { Metrics } from './ops/metrics.js';
import { isReserved, RESERVED_PREFIX } from './reserved.js';

export const HEALTH_PATH = '/healthz';
export const METRICS_PATH = '/metrics';
export const CLIENT_SCRIPT_PATH = '/tidings.js';

export interface StandaloneOptions {
  /** Default: JSON lines on stdout at `config.logLevel`. */
  logger?: Logger;
  /**
   * A Standard Schema (zod, valibot, …) per channel or pattern, checked on every publish: clients' and
   * the HTTP API's alike (see `HubOptions.schemas`). Code, so only for `startStandalone`, not tidings.json.
   */
  schemas?: Schemas;
}

export interface Standalone {
  /** `http://<host>:<port>`, with the port actually bound (the config may say 0). */
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly tidings: TidingsServer;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /**
   * Graceful shutdown: /healthz turns 503, the listener closes, clients get `disconnect` SHUTTING_DOWN
   * and have until `config.shutdownDeadlineMs` to leave, then the engine closes.
   */
  close(): Promise<void>;
}

/** The control channel keeps a few commands briefly; nothing needs them once every process has seen them. */
const CONTROL_RETENTION = { size: 100, ttlMs: 60_000 };

/** Starts Tidings as a server of its own, as `tidings serve` does. Resolves once it listens. */
export async function startStandalone(config: Config, options: StandaloneOptions = {}): Promise<Standalone> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const limits: Limits = { ...DEFAULT_LIMITS, ...config.limits };
  assertSchemaKeys(options.schemas);
  const engine = new MeteredEngine(createEngine(config.engine), metrics);
  const hub = createHub({
    engine,
    history: { [`${RESERVED_PREFIX}.>`]: CONTROL_RETENTION, ...config.history },
    ...(config.defaultHistory && { defaultHistory: config.defaultHistory }),
    maxMessageBytes: limits.maxMessageBytes,
    ...(options.schemas !== undefined && { schemas: options.schemas }),
    onError: (error, { channel }) =>
      logger.error({ channel, code: (error as { code?: string }).code, err: error }, 'delivery error'),
  });
  const hooks = config.hooks === undefined ? undefined : new BackendHooks(config.hooks, logger, metrics);
  const access = createAccess(config, hooks, logger);
  // What fails below (an option the engine cannot serve, a port in use) must not leave the engine's
  // connections open behind the error.
  const cleanup = async (error: unknown): Promise<never> => {
    await hub.close().catch(() => undefined);
    throw error;
  };
  let tidings: TidingsServer;
  try {
    tidings = createTidingsServer({
      hub,
      path: config.path,
      authenticate: access.authenticate,
      canSubscribe: access.canSubscribe,
      canPublish: access.canPublish,
      publish: config.publish,
      subscribe: config.subscribe,
      ...(config.trustProxy !== undefined && { trustProxy: config.trustProxy }),
      limits,
      observer: metrics.observer,
      ...(config.origins !== undefined && { origins: config.origins }),
      ...(config.presence !== undefined && { presence: config.presence }),
      ...(config.heartbeatMs !== undefined && { heartbeatMs: config.heartbeatMs }),
      ...(config.writeDelayMs !== undefined && { writeDelayMs: config.writeDelayMs }),
    });
  } catch (error) {
    return cleanup(error);
  }
  metrics.watch(tidings);
  const control = new Control(hub, tidings, logger);
  const api = new Api({
    hub,
    tidings,
    presence: config.presence ?? [],
    control,
    apiKey: config.apiKey,
    maxBodyBytes: limits.maxFrameBytes,
    timeoutMs: limits.requestTimeoutMs,
    logger,
    metrics,
  });
  const health = new Health(engine);
  const clientScript = config.clientScript ? new ClientScript() : undefined;
  const processId = randomUUID();
  const shared = config.engine.type === 'redis' || config.engine.type === 'nats';
  const reports = new ProcessReports(hub, processId, shared);
  const live = new LiveView({
    hub,
    tidings,
    metrics,
    health,
    engine: config.engine.type,
    processId,
    reports,
  });
  const admin = new Admin({
    hub,
    control,
    live,
    secrets: [config.adminPassword, config.apiKey].filter((secret) => secret !== undefined),
    presence: config.presence ?? [],
    timeoutMs: limits.requestTimeoutMs,
    logger,
  });

  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    if (tidings.handle(request, response)) return;
    const url = request.url ?? '/';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
    const endpoint = under(path, config.apiPath);
    let work: Promise<void>;
    if (endpoint !== undefined) work = api.handle(request, response, endpoint, query);
    else if (path === HEALTH_PATH) work = serveHealth(health, response);
    else if (path === METRICS_PATH) work = serveMetrics(metrics, response);
    else if (path === CLIENT_SCRIPT_PATH && clientScript) work = serveScript(clientScript, response);
    else if (under(path, ADMIN_PATH) !== undefined) work = admin.handle(request, response, path, query);
    else work = Promise.resolve(notFound(response, path));
    work.catch((error: unknown) => {
      logger.error({ err: error, path }, 'request failed');
      if (!response.headersSent)
        sendJson(response, 500, errorFrame(new TidingsError(ErrorCode.internal, 'internal error')));
      else response.destroy();
    });
  };
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!tidings.handleUpgrade(request, socket, head)) socket.destroy();
  };
  const server = createServer(onRequest).on('upgrade', onUpgrade);
  // Browsers keep connections open; without this, server.close() would wait for them.
  server.keepAliveTimeout = 5_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    control.close();
    live.close();
    reports.close();
    await tidings.close({ deadlineMs: 0 });
    return cleanup(error);
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  logger.info(
    {
      url,
      port,
      path: config.path,
      apiPath: config.apiPath,
      api: config.apiKey !== undefined,
      admin: config.adminPassword !== undefined || config.apiKey !== undefined,
      engine: describeEngine(config.engine),
      hooks: Object.keys(config.hooks ?? {}).filter((k) => ['connect', 'subscribe', 'publish'].includes(k)),
    },
    'listening',
  );
  const weak = config.apiKey === undefined ? undefined : weakApiKey(config.apiKey);
  if (weak !== undefined) logger.warn({ reason: weak }, 'weak apiKey accepted (allowWeakApiKey)');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      health.draining = true;
      logger.info({ deadlineMs: config.shutdownDeadlineMs }, 'draining');
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      live.close();
      admin.close();
      reports.close();
      await tidings.close({ deadlineMs: config.shutdownDeadlineMs });
      control.close();
      server.closeIdleConnections();
      // API requests still running get until the deadline too; after it, whatever is left is cut.
      const cut = setTimeout(() => server.closeAllConnections(), config.shutdownDeadlineMs);
      await stopped;
      clearTimeout(cut);
      await hub.close();
      logger.info('stopped');
    })();
    return closing;
  };

  return { url, port, hub, tidings, metrics, logger, close };
}

/** The rest of `path` when it is `base` or under it (`''`, `/publish`), else undefined. */
function under(path: string, base: string): string | undefined {
  if (base === '/') return path;
  if (path === base) return '';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

async function serveHealth(health: Health, response: ServerResponse): Promise<void> {
  const report = await health.check();
  sendJson(response, report.status, report.body);
}

async function serveMetrics(metrics: Metrics, response: ServerResponse): Promise<void> {
  const text = await metrics.render();
  response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text);
}

async function serveScript(script: ClientScript, response: ServerResponse): Promise<void> {
  const text = await script.text();
  response
    .writeHead(200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=300',
      'access-control-allow-origin': '*',
    })
    .end(text);
}

function notFound(response: ServerResponse, path: string): void {
  const error = new TidingsError(ErrorCode.invalidField, `no such endpoint: ${path.slice(0, 200)}`);
  sendJson(response, 404, errorFrame(error));
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const json = JSON.stringify(body);
  response.writeHead(status, {
    'cache-control': 'no-store',
    'content-type': `${ContentType.json}; charset=utf-8`,
    'content-length': Buffer.byteLength(json),
  });
  response.end(json);
}

/** The server's own channels carry its commands, not app data: no app schema may apply to them. */
function assertSchemaKeys(schemas: Schemas | undefined): void {
  for (const key of Object.keys(schemas ?? {})) {
    if (isReserved(key)) {
      throw new TidingsError(
        ErrorCode.invalidField,
        `schemas: ${JSON.stringify(key)} would also apply to the server's own ${RESERVED_PREFIX}.* channels: use a narrower pattern`,
      );
    }
  }
}
