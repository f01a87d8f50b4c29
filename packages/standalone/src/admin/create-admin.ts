import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContentType, ErrorCode, errorFrame, TidingsError } from '@tidings/protocol';
import { DEFAULT_LIMITS, type Engine, type ServerObserver, type TidingsServer } from '@tidings/server';
import { pino } from 'pino';
import { MeteredEngine } from '../engine/metered-engine.js';
import type { Logger } from '../logger.js';
import { Health } from '../ops/health.js';
import { Metrics } from '../ops/metrics.js';
import { ADMIN_PATH, Admin } from './admin.js';
import { LiveView } from './live-view.js';
import { ProcessReports } from './process-reports.js';

/** As the standalone's `adminPassword`: a password short enough to guess is refused up front. */
const MIN_PASSWORD_LENGTH = 12;

export interface CreateAdminOptions {
  /** What logs the dashboard in (at least 12 characters); several: any of them. */
  password: string | readonly string[];
  /** Channels (or patterns) with presence, as given to createTidingsServer: the drill-down lists their members. */
  presence?: readonly string[];
  /** Shown as the engine's name on the dashboard. Default: the engine's class name. */
  engineName?: string;
  /** Logins, refusals, publishes and disconnects. Default: nothing is logged. */
  logger?: Logger;
  /** Time allowed to read a login or an action's body. Default: the server's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** The operators' dashboard for an app's own node:http server. */
export interface AppAdmin {
  /** Pass to `createTidingsServer({ observer })`: deliveries, errors, slow consumers. */
  readonly observer: ServerObserver;
  /**
   * Wraps the hub's engine so the dashboard counts messages per second and per channel:
   * `createHub({ engine: admin.meter(engine) })`. Optional; without it those rates stay 0.
   */
  meter(engine: Engine): Engine;
  /**
   * The node:http request handler for `/admin` and under it, showing `tidings`: returns true when it
   * took the request, false (touching nothing) for other paths. Call once.
   */
  handler(tidings: TidingsServer): (request: IncomingMessage, response: ServerResponse) => boolean;
  /** Ends the open live views and stops sampling (call before `tidings.close()`). */
  close(): void;
}

/**
 * The standalone server's dashboard (login form, live view over SSE, drill-down, publish form,
 * disconnect), to mount at `/admin` in an app. The same doors as in the standalone: an HttpOnly,
 * SameSite=Strict session cookie, a CSRF token on every action, and this origin only.
 *
 * It sees this process only: the per-process list shows one row, and disconnect ends the user's
 * connections here (the standalone server coordinates both over reserved channels).
 */
export function createAdmin(options: CreateAdminOptions): AppAdmin {
  const secrets = typeof options.password === 'string' ? [options.password] : [...options.password];
  if (secrets.length === 0 || secrets.some((secret) => secret.length < MIN_PASSWORD_LENGTH)) {
    throw new TidingsError(
      ErrorCode.invalidField,
      `createAdmin: password: expected at least ${MIN_PASSWORD_LENGTH} characters`,
      { field: 'password' },
    );
  }
  const logger = options.logger ?? pino({ enabled: false });
  const timeoutMs = options.timeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs;
  const metrics = new Metrics();
  let engineName = options.engineName;
  const closers: (() => void)[] = [];
  let mounted = false;

  return {
    observer: metrics.observer,
    meter(engine) {
      engineName ??= engineLabel(engine);
      return new MeteredEngine(engine, metrics);
    },
    handler(tidings) {
      if (mounted)
        throw new TidingsError(ErrorCode.invalidField, 'createAdmin: handler() was called already');
      mounted = true;
      const { hub } = tidings;
      const inner = hub.engine instanceof MeteredEngine ? hub.engine.inner : hub.engine;
      metrics.watch(tidings);
      const processId = randomUUID();
      // Not shared: an app's clients may be allowed onto any channel, so nothing travels on one.
      const reports = new ProcessReports(hub, processId, false);
      const live = new LiveView({
        hub,
        tidings,
        metrics,
        health: new Health(hub.engine),
        engine: engineName ?? engineLabel(inner),
        processId,
        reports,
      });
      const admin = new Admin({
        hub,
        control: { disconnect: async (user, how) => tidings.disconnect(user, how) },
        live,
        secrets,
        presence: options.presence ?? [],
        timeoutMs,
        logger,
      });
      closers.push(
        () => admin.close(),
        () => live.close(),
        () => reports.close(),
      );
      return (request, response) => {
        const url = request.url ?? '/';
        const mark = url.indexOf('?');
        const path = mark < 0 ? url : url.slice(0, mark);
        if (path !== ADMIN_PATH && !path.startsWith(`${ADMIN_PATH}/`)) return false;
        const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
        admin.handle(request, response, path, query).catch((error: unknown) => {
          logger.error({ err: error, path }, 'admin request failed');
          if (response.headersSent) return void response.destroy();
          const text = JSON.stringify(errorFrame(new TidingsError(ErrorCode.internal, 'internal error')));
          response.writeHead(500, { 'content-type': `${ContentType.json}; charset=utf-8` }).end(text);
        });
        return true;
      };
    },
    close() {
      for (const close of closers.splice(0)) close();
    },
  };
}

/** `RedisEngine` → `redis`: what the dashboard's engine line shows when the app did not name it. */
function engineLabel(engine: Engine): string {
  const name = engine.constructor?.name ?? '';
  return name.endsWith('Engine') && name.length > 6 ? name.slice(0, -6).toLowerCase() : name || 'engine';
}
