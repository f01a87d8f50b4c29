import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ErrorCode, type TransportName } from '@tidings/protocol';
import type { Identity } from '../auth.js';
import { NO_STORE } from '../http/respond.js';
import { type FrameSink, Session } from '../session.js';
import { admit, start } from './admit.js';
import { destroyUnlessClosed, drained } from './backpressure.js';
import type { Connection, ServerContext } from './context.js';
import { type Flushable, FlushState, holding, release } from './flush.js';
import { disconnect, PING_FRAME, welcome } from './frames.js';
import { sizeLimits } from './size-limits.js';

/** How a streaming transport puts frames on the wire. */
export interface StreamFormat {
  readonly transport: TransportName;
  readonly contentType: string;
  /** Written once, right after the headers. */
  readonly preamble: string;
  encode(frame: string, moved: boolean, session: Session): string;
}

/** Serves one streaming request (SSE, NDJSON): checks it, then streams until either side ends it. */
export async function serveStream(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
  format: StreamFormat,
): Promise<void> {
  const cors = context.origins.headers(request);
  const admitted = await admit(context, request, response, query, { patterns: true, cors });
  if (admitted === undefined) return;
  const connection = new StreamConnection(context, request, response, admitted.identity, format, cors);
  await start(connection.session, admitted);
}

/**
 * Node keeps the response's header block (`_header`) for the life of the response, as the string it
 * built with `+=`: a tree of ~25 concatenations (~30 bytes each) over the header lines. Reading one
 * character makes V8 flatten it in place into one string, and the tree is garbage: ~0.6 KB less per
 * open stream. Skipped, harmlessly, if a Node without `_header` ever comes.
 */
function flattenHeader(response: ServerResponse): void {
  const header = (response as unknown as { _header?: unknown })._header;
  if (typeof header === 'string') header.charCodeAt(0);
}

/**
 * The connection of each open streaming response, for the response's 'close' listener: one function
 * shared by every connection finds its own here, where a bound function per connection (and the wrapper
 * `once` makes) cost ~150 bytes each. Weak: an entry goes with its response.
 */
const connections = new WeakMap<ServerResponse, StreamConnection>();

/** One streaming response. Stateless: what it needs to resume is in the frames (or SSE ids) it sent. */
class StreamConnection implements FrameSink, Connection, Flushable {
  readonly session: Session;
  readonly #context: ServerContext;
  readonly #response: ServerResponse;
  readonly #format: StreamFormat;
  readonly #maxBufferedBytes: number;
  /** Kept by the server's WriteBatcher (see flush.ts). */
  flushState: number = FlushState.idle;
  /** What the client had not taken at the last flush. */
  #backlog = 0;
  #quiet = 0;
  #ended = false;

  constructor(
    context: ServerContext,
    request: IncomingMessage,
    response: ServerResponse,
    identity: Identity,
    format: StreamFormat,
    cors: OutgoingHttpHeaders | undefined,
  ) {
    this.#context = context;
    this.#response = response;
    this.#format = format;
    this.#maxBufferedBytes = context.limits.maxBufferedBytes;
    response.writeHead(200, {
      ...NO_STORE,
      ...cors,
      'content-type': `${format.contentType}; charset=utf-8`,
      'x-accel-buffering': 'no',
    });
    if (format.preamble) response.write(format.preamble);
    else response.flushHeaders();
    flattenHeader(response);
    this.session = new Session(context, { request, identity, sink: this });
    connections.set(response, this);
    // `on`, not `once`: a response emits 'close' once, and `once` would wrap the listener per connection.
    response.on('close', StreamConnection.#onClose);
    context.open(this);
    // As on a WebSocket: the client learns the limits before it can publish.
    this.send(welcome(this.session.id, context.heartbeatMs, sizeLimits(context), identity.expiresAt), false);
  }

  // A getter, not a field: every field is 8 bytes on every connection.
  get transport(): TransportName {
    return this.#format.transport;
  }

  send(frame: string, moved: boolean): void {
    if (this.#ended) return;
    const writes = this.#context.writes;
    if (!holding(this)) {
      this.#response.cork();
      writes.hold(this);
    }
    this.#response.write(this.#format.encode(frame, moved, this.session));
    this.#quiet = 0;
    if (this.#response.writableLength >= writes.maxHeldBytes) this.flush();
  }

  flush(): void {
    if (!release(this)) return;
    this.#response.uncork();
    this.#backlog = this.#response.writableLength;
    if (this.#backlog > this.#maxBufferedBytes) this.session.slowConsumer();
  }

  get bufferedBytes(): number {
    return this.#backlog;
  }

  get pendingBytes(): number {
    return this.#response.writableLength;
  }

  drained(): Promise<void> {
    return drained(this.#response.socket);
  }

  end(code: ErrorCode, reason: string, reconnect: boolean): void {
    if (this.#ended) return;
    this.send(disconnect(code, reason, reconnect), false);
    this.#ended = true;
    this.flush();
    this.#response.end();
    // A client that does not read never lets the response finish: cut it, as a WebSocket is.
    if (!this.#response.destroyed) destroyUnlessClosed(this.#response, this.destroy.bind(this));
  }

  heartbeat(): void {
    if (++this.#quiet >= 2) this.send(PING_FRAME, false);
  }

  shutdown(): void {
    this.session.end(ErrorCode.shuttingDown, 'the server is shutting down: reconnect and resume', true);
  }

  destroy(): void {
    this.#response.destroy();
  }

  static #onClose(this: ServerResponse): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the response, not the class
    const response: ServerResponse = this;
    const connection = connections.get(response);
    if (connection !== undefined) connection.#handleClose();
  }

  #handleClose(): void {
    this.#ended = true;
    this.session.close();
    this.#context.closed(this);
  }
}
