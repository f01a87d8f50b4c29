import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Defaults, ErrorCode, Header, Query, TidingsError, TransportName } from '@tidings/protocol';
import type { Identity } from '../auth.js';
import { sendJson } from '../http/respond.js';
import { type FrameSink, Session } from '../session.js';
import { admit, start } from './admit.js';
import type { Connection, ServerContext } from './context.js';
import { disconnect } from './frames.js';
import { LeanPoll, MAX_FRAMES, type PollRequest, watchAnswer } from './lean-poll.js';
import { limitsHeader } from './size-limits.js';

/**
 * `GET <mount>/longpoll` and `GET <mount>/poll`: collect the frames after the request's cursor, answer
 * `{frames, cursor}` and forget everything. `/poll` answers once every channel has caught up;
 * `/longpoll` once there is a frame (and whatever else arrives in the same turn) or `wait` ran out.
 * A request with a cursor for each of its channels, all allowed, takes the lean path (LeanPoll); the
 * rest, and whatever the lean path hands back, subscribe on a session (PollConnection).
 */
export async function servePoll(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
  long: boolean,
): Promise<void> {
  const cors = context.origins.headers(request);
  let wait = 0;
  if (long) {
    try {
      wait = waitMs(query.get(Query.wait), context.limits.maxLongPollWaitMs);
    } catch (error) {
      context.sendError(response, error, cors);
      return;
    }
  }
  const admitted = await admit(context, request, response, query, { patterns: false, cors });
  if (admitted === undefined) return;
  const poll: PollRequest = { context, request, response, admitted, cors, long, wait };
  if (!LeanPoll.fits(admitted)) return serveOnSession(poll);
  new LeanPoll(poll, fallBack).run();
}

/** What the lean path hands back: served on a session, from the same cursor. */
function fallBack(poll: PollRequest): void {
  serveOnSession(poll).catch((error: unknown) => {
    if (!poll.response.headersSent) poll.context.sendError(poll.response, error, poll.cors);
    else poll.response.destroy();
  });
}

/** The full path: a session subscribes to every channel from the cursor (or `since`). */
async function serveOnSession(poll: PollRequest): Promise<void> {
  const { context, request, response, admitted, cors, long, wait } = poll;
  const connection = new PollConnection(context, request, response, admitted.identity, cors, long, wait);
  await start(connection.session, admitted);
  connection.started();
}

function waitMs(text: string | null, max: number): number {
  if (text === null) return Math.min(Defaults.longPollWaitMs, max);
  const wait = Number(text);
  if (text === '' || !Number.isSafeInteger(wait) || wait < 0) {
    throw new TidingsError(ErrorCode.invalidField, `${Query.wait} must be a whole number of ms`, {
      field: Query.wait,
    });
  }
  return Math.min(wait, max);
}

class PollConnection implements FrameSink, Connection {
  readonly transport: TransportName;
  readonly session: Session;
  // An answer is collected in memory and bounded by size (see `send`): nothing to wait for.
  readonly bufferedBytes = 0;
  readonly pendingBytes = 0;
  readonly #context: ServerContext;
  readonly #response: ServerResponse;
  readonly #cors: OutgoingHttpHeaders | undefined;
  readonly #long: boolean;
  readonly #wait: number;
  readonly #maxBytes: number;
  readonly #frames: string[] = [];
  #bytes = 0;
  #started = false;
  #scheduled = false;
  #done = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    context: ServerContext,
    request: IncomingMessage,
    response: ServerResponse,
    identity: Identity,
    cors: OutgoingHttpHeaders | undefined,
    long: boolean,
    wait: number,
  ) {
    this.transport = long ? TransportName.longpoll : TransportName.poll;
    this.#context = context;
    this.#response = response;
    this.#cors = cors;
    this.#long = long;
    this.#wait = wait;
    this.#maxBytes = context.limits.maxBufferedBytes;
    // Start positions go in the cursor, not in `subscribed` frames.
    this.session = new Session(context, { request, identity, sink: this, announce: false, presence: false });
    response.once('close', this.#onClose);
    context.open(this);
  }

  send(frame: string): void {
    if (this.#done) return;
    this.#frames.push(frame);
    this.#bytes += frame.length;
    if (this.#frames.length >= MAX_FRAMES || this.#bytes >= this.#maxBytes) this.#finish();
    else if (this.#started) this.#soon();
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  /** Every subscription has started and delivered its catch-up. */
  started(): void {
    if (this.#done) return;
    this.#started = true;
    if (!this.#long || this.#frames.length > 0) this.#finish();
    else {
      this.#timer = setTimeout(this.#finish, this.#wait);
      this.#timer.unref();
    }
  }

  /** Token expiry or shutdown: answer with what there is, and say why. */
  end(code: ErrorCode, reason: string, reconnect: boolean): void {
    if (this.#done) return;
    this.#frames.push(disconnect(code, reason, reconnect));
    this.#finish();
  }

  heartbeat(): void {}

  shutdown(): void {
    this.session.end(ErrorCode.shuttingDown, 'the server is shutting down: poll again (elsewhere)', true);
  }

  destroy(): void {
    this.#response.destroy();
  }

  // What else arrives in this turn goes in the same answer.
  #soon(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#finish);
  }

  readonly #finish = this.#finishNow.bind(this);

  #finishNow(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    // Read before closing, and nothing moves after: the cursor is exactly what the frames reach.
    const cursor = this.session.cursor();
    this.session.close();
    const body = `{"frames":[${this.#frames.join(',')}],"cursor":${JSON.stringify(cursor)}}`;
    sendJson(this.#response, 200, body, {
      ...this.#cors,
      [Header.limits]: limitsHeader(this.#context, this.session.identity.expiresAt),
    });
    watchAnswer(this.#response);
  }

  readonly #onClose = this.#handleClose.bind(this);

  #handleClose(): void {
    this.#done = true;
    clearTimeout(this.#timer);
    this.session.close();
    this.#context.closed(this);
  }
}
