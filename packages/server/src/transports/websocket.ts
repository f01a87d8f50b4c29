import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { closeCode, ErrorCode, TidingsError, TransportName, validateClientFrame } from '@tidings/protocol';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Identity } from '../auth.js';
import { assertVersion } from '../http/query.js';
import { type FrameSink, Session } from '../session.js';
import { authenticateRequest, shuttingDown } from './admit.js';
import { CLOSE_GRACE_MS, drained } from './backpressure.js';
import type { Connection, ServerContext } from './context.js';
import { type Flushable, FlushState, holding, release } from './flush.js';
import { disconnect, PING_FRAME, toTidingsError, welcome } from './frames.js';
import { leadingRequestId } from './leading-id.js';
import { sizeLimits } from './size-limits.js';
import { textFrame } from './ws-frame.js';

/**
 * Frames between maxFrameBytes and this many times it get a FRAME_TOO_LARGE error naming their request,
 * so the client fails that publish and goes on; larger ones are not even buffered: close 1009 (the
 * client then fails the publish it could not send, see the client's outbox).
 */
const HARD_CAP_FACTOR = 4;

const noop = () => {};

/**
 * The `ws` socket of a Tidings connection, pointing back at it: the socket's listeners are then
 * functions shared by every connection (they find theirs through `this`), where a bound function per
 * connection and event cost ~50 bytes each.
 */
class TidingsWebSocket extends WebSocket {
  connection: WebSocketConnection | undefined = undefined;
}

/** `GET <mount>/ws`: the WebSocket transport. */
export class WebSocketTransport {
  readonly #context: ServerContext;
  readonly #wss: WebSocketServer;

  constructor(context: ServerContext) {
    this.#context = context;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      WebSocket: TidingsWebSocket,
      maxPayload: HARD_CAP_FACTOR * context.limits.maxFrameBytes,
    });
  }

  /**
   * Takes an upgrade request. Refusals (origin, version, credentials, limits, shutdown) are told over
   * the WebSocket itself, `disconnect` then close 4000 + status, because a browser cannot read the HTTP
   * status of a failed upgrade. `authenticate` never runs for a refused origin.
   */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    socket.on('error', noop);
    const context = this.#context;
    const refuse = (cause: unknown) =>
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        socket.off('error', noop);
        refuseSocket(context, ws, toTidingsError(cause));
      });
    let refused: unknown;
    if (context.closing) refused = shuttingDown();
    else if (!context.origins.allows(request))
      refused = new TidingsError(ErrorCode.forbidden, 'origin not allowed');
    else {
      try {
        assertVersion(query);
      } catch (error) {
        refused = error;
      }
    }
    if (refused !== undefined) {
      refuse(refused);
      return;
    }
    authenticateRequest(context, request, query).then((identity) => {
      if (context.closing) {
        refuse(shuttingDown());
        return;
      }
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        socket.off('error', noop);
        if (context.closing) refuseSocket(context, ws, shuttingDown());
        else if (!context.connectionsPerIdentity.acquire(context.clientKey(identity, request))) {
          refuseSocket(
            context,
            ws,
            new TidingsError(ErrorCode.tooManyConnections, 'too many connections for this identity'),
          );
        } else new WebSocketConnection(context, ws as TidingsWebSocket, socket, request, identity);
      });
    }, refuse);
  }
}

function refuseSocket(context: ServerContext, ws: WebSocket, error: TidingsError): void {
  context.observer?.error?.(error.code);
  ws.on('error', noop);
  ws.send(disconnect(error.code, error.message, error.action !== 'fatal'));
  closeSoon(ws, closeCode(error.code), error.code);
}

function closeSoon(ws: WebSocket, code: number, reason: string): NodeJS.Timeout {
  ws.close(code, reason);
  const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
  return timer;
}

/**
 * One WebSocket client. Frames are written straight to the socket as pre-encoded WebSocket frames,
 * corked until the server's write batch is flushed: the end of the event-loop turn, or `writeDelayMs`
 * (`ws` is used for the handshake, parsing, pings and close).
 */
class WebSocketConnection implements FrameSink, Connection, Flushable {
  // Getters, not fields: every field is 8 bytes on every connection.
  get transport(): TransportName {
    return TransportName.websocket;
  }

  readonly session: Session;
  readonly #context: ServerContext;
  readonly #ws: TidingsWebSocket;
  readonly #socket: Duplex;
  readonly #maxBufferedBytes: number;
  /** Kept by the server's WriteBatcher (see flush.ts). */
  flushState: number = FlushState.idle;
  /** What the client had not taken at the last flush. */
  #backlog = 0;
  /** Heartbeat ticks since the last frame sent. */
  #quiet = 0;
  /** WebSocket pings sent since the client last gave a sign of life. */
  #unanswered = 0;
  #ticks = 0;

  constructor(
    context: ServerContext,
    ws: TidingsWebSocket,
    socket: Duplex,
    request: IncomingMessage,
    identity: Identity,
  ) {
    this.#context = context;
    this.#ws = ws;
    this.#socket = socket;
    this.#maxBufferedBytes = context.limits.maxBufferedBytes;
    this.session = new Session(context, { request, identity, sink: this });
    ws.connection = this;
    ws.on('message', WebSocketConnection.#onMessage);
    ws.on('pong', WebSocketConnection.#onPong);
    ws.on('error', noop);
    // `on`, not `once`: `ws` emits 'close' once, and `once` would wrap the listener per connection.
    ws.on('close', WebSocketConnection.#onClose);
    context.open(this);
    this.send(welcome(this.session.id, context.heartbeatMs, sizeLimits(context), identity.expiresAt), false);
  }

  send(frame: string, _moved?: boolean): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const writes = this.#context.writes;
    if (!holding(this)) {
      this.#socket.cork();
      writes.hold(this);
    }
    this.#socket.write(textFrame(frame));
    this.#quiet = 0;
    if (this.#socket.writableLength >= writes.maxHeldBytes) this.flush();
  }

  flush(): void {
    if (!release(this)) return;
    this.#socket.uncork();
    this.#backlog = this.#socket.writableLength;
    if (this.#backlog > this.#maxBufferedBytes) this.session.slowConsumer();
  }

  get bufferedBytes(): number {
    return this.#backlog;
  }

  get pendingBytes(): number {
    return this.#socket.writableLength;
  }

  drained(): Promise<void> {
    return drained(this.#socket);
  }

  end(code: ErrorCode, reason: string, reconnect: boolean): void {
    this.send(disconnect(code, reason, reconnect), false);
    this.flush();
    if (this.#ws.readyState === WebSocket.OPEN) closeSoon(this.#ws, closeCode(code), code);
  }

  heartbeat(): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (++this.#quiet >= 2) this.send(PING_FRAME, false);
    if (++this.#ticks % 2 !== 0) return;
    if (this.#unanswered >= 2) {
      this.#ws.terminate();
      return;
    }
    this.#unanswered++;
    this.#ws.ping();
  }

  shutdown(): void {
    this.session.end(ErrorCode.shuttingDown, 'the server is shutting down: reconnect and resume', true);
  }

  destroy(): void {
    this.#ws.terminate();
  }

  // `this` is the socket: a TidingsWebSocket, which `ws`'s listener types do not know.
  static #onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the socket, not the class
    const ws: WebSocket = this;
    const connection = (ws as TidingsWebSocket).connection;
    if (connection !== undefined) connection.#handleMessage(data, isBinary);
  }

  #handleMessage(data: RawData, isBinary: boolean): void {
    this.#unanswered = 0;
    this.#context.writes.expedite(this);
    const session = this.session;
    const bytes = data as Buffer;
    if (isBinary) {
      session.fail(new TidingsError(ErrorCode.malformedFrame, 'frames are JSON text, not binary'));
      return;
    }
    const limit = this.#context.limits.maxFrameBytes;
    if (bytes.length > limit) {
      session.fail(
        new TidingsError(
          ErrorCode.frameTooLarge,
          `frame of ${bytes.length} bytes, over the limit of ${limit}`,
          {
            bytes: bytes.length,
            limit,
          },
        ),
        leadingRequestId(bytes),
      );
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString());
    } catch {
      session.fail(new TidingsError(ErrorCode.malformedFrame, 'frame is not valid JSON'));
      return;
    }
    try {
      session.handle(validateClientFrame(value));
    } catch (error) {
      session.fail(error, requestId(value));
    }
  }

  static #onPong(this: WebSocket): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the socket, not the class
    const ws: WebSocket = this;
    const connection = (ws as TidingsWebSocket).connection;
    if (connection !== undefined) connection.#unanswered = 0;
  }

  static #onClose(this: WebSocket): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the socket, not the class
    const ws: WebSocket = this;
    const connection = (ws as TidingsWebSocket).connection;
    if (connection !== undefined) connection.#handleClose();
  }

  #handleClose(): void {
    this.session.close();
    this.#context.closed(this);
  }
}

/** The `id` of a frame that failed validation, when it has a usable one, so the client can match the error. */
function requestId(value: unknown): number | undefined {
  const id = (value as { id?: unknown } | null)?.id;
  return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : undefined;
}
