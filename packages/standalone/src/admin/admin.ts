import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  ContentType,
  ErrorCode,
  errorFrame,
  FrameType,
  httpStatus,
  isTidingsError,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';
import type { Hub } from '@tidings/server';
import { z } from 'zod';
import { readJson, readText } from '../api/read-json.js';
import { apiChannel, parseBody } from '../api/requests.js';
import type { Control } from '../control.js';
import type { Logger } from '../logger.js';
import { AdminAssets, isAsset } from './assets.js';
import type { LiveView } from './live-view.js';
import { LoginThrottle } from './login-throttle.js';
import { ASSET_PATH, dashboardPage, loginPage } from './pages.js';
import { type AdminSession, AdminSessions, sameToken } from './sessions.js';

export const ADMIN_PATH = '/admin';
export const CSRF_HEADER = 'x-tidings-csrf';
const COOKIE = 'tidings_admin';
/** Never sent to a page: they change nothing and hold no data, so they are served without a session. */
const PAGE_HEADERS: OutgoingHttpHeaders = {
  'cache-control': 'no-store',
  // Only this origin's own script and style; no frame may embed the page (clickjacking).
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it, Chromium sends `Origin: null` on the login form's POST.
  'referrer-policy': 'same-origin',
};
const MAX_LOGIN_BYTES = 4_096;
const HISTORY_PAGE = 20;
/** Open live views per process: each costs a write a second. */
const MAX_STREAMS = 100;

const publishBody = z.strictObject({
  channel: z.string({ error: 'expected a channel name' }),
  /** JSON text as typed in the form: parsed here, so a typo is told rather than published as a string. */
  json: z.string({ error: 'expected JSON text' }),
});
const disconnectBody = z.strictObject({
  user: z.string({ error: 'expected an identity id' }).min(1, { error: 'expected an identity id' }).max(256),
});

export interface AdminOptions {
  hub: Hub;
  /** Disconnects a user: on every process (the standalone's control channel) or on this one (an app's). */
  control: Pick<Control, 'disconnect'>;
  live: LiveView;
  /** The admin password and/or the API key; none: the dashboard is off. */
  secrets: readonly string[];
  /** Channels (or patterns) with presence. */
  presence: readonly string[];
  timeoutMs: number;
  logger: Logger;
}

/**
 * The operators' dashboard at `/admin`: a login form, then a live view pushed over SSE once a second,
 * a channel drill-down, a publish form and disconnect. Closed by default: without a configured secret
 * it answers 404, and without a session nothing but the login form and static assets. Every action
 * carries the session's CSRF token in a header and must come from this origin.
 */
export class Admin {
  readonly #options: AdminOptions;
  readonly #sessions: AdminSessions;
  readonly #assets = new AdminAssets();
  readonly #throttle = new LoginThrottle();
  readonly #streams = new Set<ServerResponse>();
  readonly #hasPresence: ((channel: string) => boolean)[];

  constructor(options: AdminOptions) {
    this.#options = options;
    this.#sessions = new AdminSessions(options.secrets);
    this.#hasPresence = options.presence.map(patternMatcher);
  }

  /** Serves a request whose path is `/admin` or under it. */
  async handle(request: IncomingMessage, response: ServerResponse, path: string, query: URLSearchParams) {
    if (!this.#sessions.enabled) {
      const off = new TidingsError(
        ErrorCode.invalidField,
        'the dashboard is off: set adminPassword (or apiKey)',
      );
      return json(response, 404, errorFrame(off));
    }
    const sub = path.slice(ADMIN_PATH.length) || '/';
    const method = request.method ?? 'GET';
    if (sub.startsWith(`${ASSET_PATH.slice(ADMIN_PATH.length)}/`) && method === 'GET') {
      return this.#asset(response, sub.slice(ASSET_PATH.length - ADMIN_PATH.length + 1));
    }
    if (sub === '/login' && method === 'POST') return this.#login(request, response);
    const session = this.#sessions.get(cookie(request, COOKIE));
    if (sub === '/' && method === 'GET') {
      if (session === undefined) return html(response, 200, loginPage());
      return html(response, 200, dashboardPage(session.csrf));
    }
    try {
      if (session === undefined) throw new TidingsError(ErrorCode.unauthorized, 'log in first');
      checkRequest(request, session, query);
      if (sub === '/logout' && method === 'POST') return this.#logout(response, session);
      if (sub === '/events' && method === 'GET') return this.#events(request, response, session);
      let body: unknown;
      if (sub === '/api/channel' && method === 'GET') body = await this.#channel(query);
      else if (sub === '/api/publish' && method === 'POST') body = await this.#publish(request);
      else if (sub === '/api/disconnect' && method === 'POST') body = await this.#disconnect(request);
      else
        throw new TidingsError(
          ErrorCode.invalidField,
          `no such admin endpoint: ${method} ${sub.slice(0, 100)}`,
        );
      json(response, 200, body);
    } catch (cause) {
      const error = this.#toError(cause);
      json(response, httpStatus(error.code), errorFrame(error));
    }
  }

  /** Ends the open live views (shutdown). */
  close(): void {
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
  }

  async #asset(response: ServerResponse, name: string): Promise<void> {
    if (!isAsset(name)) {
      json(response, 404, errorFrame(new TidingsError(ErrorCode.invalidField, 'no such asset')));
      return;
    }
    const body = await this.#assets.read(name);
    response
      .writeHead(200, {
        'content-type': this.#assets.contentType(name),
        'content-length': body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      })
      .end(body);
  }

  async #login(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // A login from another site's form would log the operator's browser into the attacker's session.
    if (!sameOrigin(request))
      return html(response, 403, loginPage('Refused: the form came from another site.'));
    const address = request.socket.remoteAddress ?? '';
    if (this.#throttle.blocked(address)) {
      return html(response, 429, loginPage('Too many wrong passwords: try again in a minute.'));
    }
    let secret: string | null = null;
    try {
      secret = new URLSearchParams(await readText(request, MAX_LOGIN_BYTES, this.#options.timeoutMs)).get(
        'secret',
      );
    } catch {
      // Told as a wrong password below.
    }
    const session = secret === null ? undefined : this.#sessions.login(secret);
    if (session === undefined) {
      this.#throttle.failed(address);
      this.#options.logger.warn({ address }, 'admin login refused');
      return html(response, 401, loginPage('Wrong password.'));
    }
    this.#options.logger.info({ address }, 'admin login');
    const secure = 'encrypted' in request.socket && request.socket.encrypted ? '; Secure' : '';
    response
      .writeHead(303, {
        ...PAGE_HEADERS,
        location: ADMIN_PATH,
        'set-cookie': `${COOKIE}=${session.id}; Path=${ADMIN_PATH}; HttpOnly; SameSite=Strict${secure}`,
      })
      .end();
  }

  #logout(response: ServerResponse, session: AdminSession): void {
    this.#sessions.logout(session.id);
    response
      .writeHead(200, {
        ...PAGE_HEADERS,
        'content-type': `${ContentType.json}; charset=utf-8`,
        'set-cookie': `${COOKIE}=; Path=${ADMIN_PATH}; HttpOnly; SameSite=Strict; Max-Age=0`,
      })
      .end('{}');
  }

  #events(request: IncomingMessage, response: ServerResponse, session: AdminSession): void {
    if (this.#streams.size >= MAX_STREAMS) {
      throw new TidingsError(ErrorCode.rateLimited, `at most ${MAX_STREAMS} dashboards may be open at once`);
    }
    response.writeHead(200, {
      ...PAGE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    response.write(`retry: 2000\nevent: series\ndata: ${JSON.stringify(this.#options.live.series())}\n\n`);
    this.#streams.add(response);
    const stop = this.#options.live.listen((frame) => {
      // A logout or an expired session ends the view at its next frame.
      if (this.#sessions.get(session.id, false) === undefined) response.end();
      else response.write(`data: ${frame}\n\n`);
    });
    const end = () => {
      stop();
      this.#streams.delete(response);
    };
    response.on('close', end);
    request.on('close', end);
  }

  /** A channel's newest messages (paged back with `before`), its snapshot and presence. */
  async #channel(query: URLSearchParams) {
    const channel = apiChannel(query.get('channel'));
    const { engine } = this.#options.hub;
    const head = await engine.read(channel, 0, 1);
    const beforeText = query.get('before');
    const before = beforeText === null || beforeText === '' ? head.offset + 1 : Number(beforeText);
    if (!Number.isSafeInteger(before) || before < 1) {
      throw new TidingsError(ErrorCode.invalidField, 'before: expected an offset', { field: 'before' });
    }
    const after = Math.max(head.firstOffset - 1, before - 1 - HISTORY_PAGE, 0);
    const count = Math.min(HISTORY_PAGE, before - 1 - after);
    const read = count > 0 ? await engine.read(channel, after, count) : { messages: [] };
    const messages = read.messages
      .filter((message) => message.offset < before)
      .reverse()
      .map(({ offset, ts, data, expiresAt }) => ({ offset, ts, data, ...(expiresAt && { expiresAt }) }));
    const snapshot = await engine.snapshot(channel);
    const presence = this.#hasPresence.some((matches) => matches(channel))
      ? await this.#options.hub.presence(channel).catch(() => undefined)
      : undefined;
    return {
      channel,
      epoch: head.epoch,
      offset: head.offset,
      subscribers: this.#options.hub.subscriberCount(channel),
      messages,
      ...(after >= head.firstOffset && { next: after + 1 }),
      ...(snapshot !== null && { snapshot }),
      ...(presence !== undefined && { presence }),
    };
  }

  async #publish(request: IncomingMessage) {
    const body = parseBody(publishBody, await readJson(request, 1_048_576, this.#options.timeoutMs));
    const channel = apiChannel(body.channel);
    let data: unknown;
    try {
      data = JSON.parse(body.json);
    } catch {
      throw new TidingsError(ErrorCode.invalidField, 'data: not valid JSON', { field: 'json' });
    }
    const published = await this.#options.hub.publish(channel, data, { publisher: 'admin' });
    this.#options.logger.info({ channel, offset: published.offset }, 'admin publish');
    const { epoch, offset, ts } = published;
    return { type: FrameType.ack, channel, epoch, offset, ts };
  }

  async #disconnect(request: IncomingMessage) {
    const body = parseBody(disconnectBody, await readJson(request, 4_096, this.#options.timeoutMs));
    const disconnected = await this.#options.control.disconnect(body.user, {
      code: ErrorCode.forbidden,
      reason: 'disconnected by an operator',
    });
    this.#options.logger.info({ user: body.user, disconnected }, 'admin disconnect');
    return { user: body.user, disconnected };
  }

  #toError(cause: unknown): TidingsError {
    if (isTidingsError(cause)) return cause;
    this.#options.logger.error({ err: cause }, 'admin request failed');
    return new TidingsError(ErrorCode.internal, 'internal error');
  }
}

/**
 * Refuses what another origin could have sent with the operator's cookie: the request must come from
 * this origin (Origin / Sec-Fetch-Site) and carry the session's CSRF token, in the header for fetches
 * or in `?csrf=` for the EventSource (which cannot set headers).
 */
function checkRequest(request: IncomingMessage, session: AdminSession, query: URLSearchParams): void {
  if (!sameOrigin(request)) throw new TidingsError(ErrorCode.forbidden, 'cross-origin request refused');
  const header = request.headers[CSRF_HEADER];
  const token = typeof header === 'string' ? header : (query.get('csrf') ?? '');
  if (!sameToken(token, session.csrf))
    throw new TidingsError(ErrorCode.forbidden, 'missing or wrong CSRF token');
}

/**
 * True unless the browser says the request came from elsewhere. Browsers send Origin with every POST
 * and every fetch but a same-origin GET; a POST without one is refused (no browser form sends that).
 */
function sameOrigin(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return request.method === 'GET';
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function cookie(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function html(response: ServerResponse, status: number, text: string): void {
  response
    .writeHead(status, {
      ...PAGE_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      ...PAGE_HEADERS,
      'content-type': `${ContentType.json}; charset=utf-8`,
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}
