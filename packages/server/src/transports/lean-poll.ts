import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  ContentType,
  Defaults,
  ErrorCode,
  encodeCursor,
  errorAction,
  Header,
  type Position,
  TransportName,
} from '@tidings/protocol';
import type { Identity } from '../auth.js';
import type { Feed, FeedListener } from '../feed.js';
import { NO_STORE, sendJson } from '../http/respond.js';
import type { Envelope } from '../message.js';
import { resume } from '../resume.js';
import type { Admitted } from './admit.js';
import { watchStall } from './backpressure.js';
import type { Connection, ServerContext } from './context.js';
import { disconnect, unsubscribed } from './frames.js';
import { limitsHeader } from './size-limits.js';

/** Most frames in one answer; the cursor then stops at the last one included (docs/PROTOCOL.md). */
export const MAX_FRAMES = 1_000;

/** The first history page of a poll that is behind: one second of a busy channel, in one read. */
const FIRST_PAGE = 64;

const MAX_TIMER_MS = 2 ** 31 - 1;

const JSON_UTF8 = `${ContentType.json}; charset=utf-8`;

/**
 * A client that does not take its answer would keep it (up to maxBufferedBytes) in this process
 * forever: cut it after SLOW_CONSUMER_GRACE_MS without progress. An answer the socket took whole (the
 * usual case) has nothing left here to watch, and costs no timer.
 */
export function watchAnswer(response: ServerResponse): void {
  if (response.writableLength === 0 || response.destroyed) return;
  response.once(
    'close',
    watchStall(() => response.writableLength, response.destroy.bind(response)),
  );
}

/** One poll or long-poll request, admitted: what the lean path and the full path both serve. */
export interface PollRequest {
  readonly context: ServerContext;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly admitted: Admitted;
  readonly cors: OutgoingHttpHeaders | undefined;
  readonly long: boolean;
  /** Long-poll wait, ms. */
  readonly wait: number;
}

// Timer callbacks take the poll as an argument: no function bound per request.
const finishPoll = (poll: LeanPoll): void => poll.finish();

/**
 * Polls that took a frame this turn, answered together at its end: one setImmediate for a message that
 * wakes a thousand long-polls, not one each.
 */
let answering: LeanPoll[] = [];

function answerAll(): void {
  const polls = answering;
  answering = [];
  for (const poll of polls) poll.finish();
}
const expirePoll = (poll: LeanPoll): void => poll.expire();

/**
 * One poll or long-poll request served without a Session, a Scope or subscriptions: the common case of
 * a client that comes back with a cursor for channels it may read, is caught up or a little behind, and
 * (long-poll) waits for the next message. It listens to each channel's feed (the same live stream the
 * subscriptions of this process share), reads what it is behind through `resume` (so a position that
 * cannot be served is decided where every other read decides it), and takes the frames the feed already
 * encoded. Whatever is unusual (a reset, a gap, a resync, an engine error) before anything was sent hands
 * the request to the full path (`fallback`), which serves it from the same cursor as if it had just come.
 */
export class LeanPoll implements Connection {
  readonly transport: TransportName;
  readonly identity: Identity;
  readonly #poll: PollRequest;
  readonly #context: ServerContext;
  readonly #response: ServerResponse;
  readonly #maxBytes: number;
  readonly #fallback: (poll: PollRequest) => void;
  /** Where each channel of the cursor stands: the request's positions, moved by each frame taken. */
  readonly #positions = new Map<string, Position>();
  readonly #watches: Watch[] = [];
  readonly #frames: string[] = [];
  #bytes = 0;
  #delivered = 0;
  /** `lean` until answered (`done`) or handed over (`fallen`). */
  #state: 'lean' | 'done' | 'fallen' = 'lean';
  #started = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;

  /** Whether the lean path can take this request: every channel allowed, and every one in the cursor. */
  static fits(admitted: Admitted): boolean {
    if (admitted.denied.size > 0) return false;
    const cursor = admitted.query.cursor;
    for (const channel of admitted.allowed) if (!cursor.has(channel)) return false;
    return true;
  }

  /** `fallback` serves the request on the full path. */
  constructor(poll: PollRequest, fallback: (poll: PollRequest) => void) {
    this.transport = poll.long ? TransportName.longpoll : TransportName.poll;
    this.identity = poll.admitted.identity;
    this.#poll = poll;
    this.#context = poll.context;
    this.#response = poll.response;
    this.#maxBytes = poll.context.limits.maxBufferedBytes;
    this.#fallback = fallback;
  }

  /** The Connection's view of a session: who it is, whether it is over, how to end it. */
  get session(): this {
    return this;
  }

  get ended(): boolean {
    return this.#state !== 'lean';
  }

  /** Starts: listens to every channel, reads what it is behind, then answers or waits. */
  run(): void {
    const { query, allowed } = this.#poll.admitted;
    const hub = this.#context.hub;
    for (const channel of query.channels) {
      const position = query.cursor.get(channel);
      if (position !== undefined) this.#positions.set(channel, position);
    }
    this.#context.open(this);
    // `on`, not `once`: no wrapper per request; the response closes once.
    this.#response.on('close', this.#onClose);
    const behind: Watch[] = [];
    try {
      for (const channel of allowed) {
        const position = query.cursor.get(channel) as Position;
        const watch = new Watch(this, channel, position);
        watch.feed = hub.listen(channel, watch);
        this.#watches.push(watch);
        const known = watch.feed.known;
        if (known === undefined || known.epoch !== position.epoch || known.offset !== position.offset) {
          watch.reading = true;
          behind.push(watch);
        }
      }
    } catch {
      this.#handOver();
      return;
    }
    this.#arm();
    if (behind.length === 0) this.#begin();
    // A read that fails goes to the full path, which reads again and tells the client (ENGINE_UNAVAILABLE).
    else this.#catchUp(behind).catch(() => this.#handOver());
  }

  /** A live message from a channel's feed. */
  take(watch: Watch, envelope: Envelope): void {
    if (this.#state !== 'lean') return;
    if (watch.reading) {
      watch.pending.push(envelope);
      return;
    }
    if (envelope.epoch === watch.epoch) {
      if (envelope.offset <= watch.offset) return;
      if (envelope.offset === watch.offset + 1) {
        watch.offset = envelope.offset;
        this.#deliver(envelope);
        return;
      }
    }
    this.lost();
  }

  /** A gap, a new epoch or a resync: answer with what there is, or (nothing yet) hand over to the full path. */
  lost(): void {
    if (this.#state !== 'lean') return;
    if (this.#frames.length > 0) this.finish();
    else this.#handOver();
  }

  /** Token expiry, `disconnect()` or shutdown: answer with what there is, and say why. */
  end(code: ErrorCode, reason: string, reconnect = errorAction(code) !== 'fatal'): void {
    if (this.#state !== 'lean') return;
    this.#context.observer?.disconnected?.(code);
    this.#frames.push(disconnect(code, reason, reconnect));
    this.finish();
  }

  heartbeat(): void {}

  shutdown(): void {
    this.end(ErrorCode.shuttingDown, 'the server is shutting down: poll again (elsewhere)', true);
  }

  destroy(): void {
    this.#response.destroy();
  }

  /**
   * Reads each channel it is behind on, from its feed's envelopes where it has them, until it has caught
   * up with what the engine holds; live messages that came meanwhile follow in order.
   */
  async #catchUp(behind: Watch[]): Promise<void> {
    const engine = this.#context.hub.engine;
    for (const watch of behind) {
      const feed = watch.feed as Feed;
      // Reading before the stream is live could miss what is published in between.
      if (!feed.live) await feed.ready;
      if (this.#state !== 'lean') return;
      let limit = Math.min(FIRST_PAGE, MAX_FRAMES - this.#frames.length);
      for (;;) {
        const since = { epoch: watch.epoch, offset: watch.offset };
        const resumed = await resume(engine, watch.channel, since, limit);
        if (this.#state !== 'lean') return;
        // Only the full path tells a reset (and sends the snapshot).
        if (resumed.reset) return this.#handOver();
        const read = resumed.read;
        let bytes = 0;
        for (const message of read.messages) {
          bytes += message.data.length;
          if (message.offset !== watch.offset + 1) continue;
          watch.offset = message.offset;
          this.#deliver(feed.envelope(message));
          if (this.#state !== 'lean') return;
        }
        if (watch.offset >= read.offset || read.messages.length === 0) break;
        const average = Math.max(1, bytes / read.messages.length);
        const room = Math.floor((this.#maxBytes - this.#bytes) / average) + 1;
        limit = Math.max(1, Math.min(Defaults.maxHistoryBatch, MAX_FRAMES - this.#frames.length, room));
      }
      watch.reading = false;
      const pending = watch.pending;
      watch.pending = [];
      for (const envelope of pending) {
        this.take(watch, envelope);
        if (this.#state !== 'lean') return;
      }
    }
    this.#begin();
  }

  /** Every channel has caught up: `/poll` answers, `/longpoll` answers if it has frames, else waits. */
  #begin(): void {
    if (this.#state !== 'lean') return;
    this.#started = true;
    if (!this.#poll.long || this.#frames.length > 0) this.finish();
    else {
      this.#timer = setTimeout(finishPoll, this.#poll.wait, this);
      this.#timer.unref();
    }
  }

  #deliver(envelope: Envelope): void {
    // Expired messages are never delivered late, and move no position (as for a subscription).
    if (envelope.expiresAt !== undefined && envelope.expiresAt <= this.#context.hub.now()) return;
    this.#positions.set(envelope.channel, envelope);
    const frame = envelope.frame;
    this.#frames.push(frame);
    this.#bytes += frame.length;
    this.#delivered++;
    if (this.#frames.length >= MAX_FRAMES || this.#bytes >= this.#maxBytes) this.finish();
    else if (this.#started && !this.#scheduled) {
      // What else arrives in this turn goes in the same answer.
      this.#scheduled = true;
      if (answering.length === 0) setImmediate(answerAll);
      answering.push(this);
    }
  }

  #arm(): void {
    clearTimeout(this.#expiry);
    const expiresAt = this.identity.expiresAt;
    if (expiresAt === undefined) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now()));
    this.#expiry = setTimeout(expirePoll, ms, this);
    this.#expiry.unref();
  }

  /** As a session's: each channel `unsubscribed` TOKEN_EXPIRED, then `disconnect`. */
  expire(): void {
    const expiresAt = this.identity.expiresAt;
    if (this.#state !== 'lean' || expiresAt === undefined) return;
    if (expiresAt > Date.now()) {
      this.#arm();
      return;
    }
    const reason = 'the token has expired';
    for (const watch of this.#watches) {
      this.#frames.push(unsubscribed(watch.channel, undefined, ErrorCode.tokenExpired, reason));
    }
    this.end(ErrorCode.tokenExpired, reason, true);
  }

  /** Stops listening and forgets its timers; `releaseSlot`: the connection slot goes too. */
  #stop(releaseSlot: boolean): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#expiry);
    const hub = this.#context.hub;
    for (const watch of this.#watches) if (watch.feed !== undefined) hub.unlisten(watch.feed, watch);
    if (releaseSlot) {
      this.#context.connectionsPerIdentity.release(this.#poll.admitted.client);
    }
  }

  /** Nothing was sent: the full path serves the request from its cursor, as if it had just come. */
  #handOver(): void {
    if (this.#state !== 'lean') return;
    this.#state = 'fallen';
    // The full path's session takes over the connection slot admit acquired.
    this.#stop(false);
    this.#response.off('close', this.#onClose);
    this.#context.closed(this);
    this.#fallback(this.#poll);
  }

  /** Answers with the frames so far and the cursor after them. */
  finish(): void {
    if (this.#state !== 'lean') return;
    this.#state = 'done';
    this.#stop(true);
    const observer = this.#context.observer;
    if (observer?.delivered !== undefined) for (let i = 0; i < this.#delivered; i++) observer.delivered();
    const cursor = encodeCursor(this.#positions);
    const body = `{"frames":[${this.#frames.join(',')}],"cursor":${JSON.stringify(cursor)}}`;
    const response = this.#response;
    const limits = limitsHeader(this.#context, this.identity.expiresAt);
    const cors = this.#poll.cors;
    if (cors !== undefined) sendJson(response, 200, body, { ...cors, [Header.limits]: limits });
    else if (!response.headersSent && !response.destroyed) {
      // The same headers as sendJson's, in one literal: no object spread per answer.
      response.writeHead(200, {
        'cache-control': NO_STORE['cache-control'],
        [Header.limits]: limits,
        'content-type': JSON_UTF8,
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    }
    watchAnswer(response);
  }

  readonly #onClose = this.#closed.bind(this);

  #closed(): void {
    if (this.#state === 'lean') {
      this.#state = 'done';
      this.#stop(true);
    }
    this.#context.closed(this);
  }
}

/** One channel of a lean poll: where it stands, and the feed it listens to. */
class Watch implements FeedListener {
  feed: Feed | undefined;
  epoch: string;
  offset: number;
  /** While its history is read, live messages wait here. */
  reading = false;
  pending: Envelope[] = [];

  constructor(
    readonly poll: LeanPoll,
    readonly channel: string,
    position: Position,
  ) {
    this.epoch = position.epoch;
    this.offset = position.offset;
  }

  message(envelope: Envelope): void {
    this.poll.take(this, envelope);
  }

  resync(): void {
    this.poll.lost();
  }
}
