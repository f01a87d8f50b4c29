import { assertChannelName, assertChannelOrPattern } from './channel.js';
import { Defaults, FrameType, Since, type SinceMode } from './constants.js';
import { ErrorCode as Codes, type ErrorCode, TidingsError } from './errors.js';
import { isPosition, type Position } from './position.js';

/** Where a subscription starts: a mode, or a position to resume after. */
export type SinceSpec = SinceMode | Position;

// Client → server

export interface SubscribeFrame {
  type: typeof FrameType.subscribe;
  id?: number;
  channel: string;
  since?: SinceSpec;
}
export interface UnsubscribeFrame {
  type: typeof FrameType.unsubscribe;
  id?: number;
  channel: string;
}
export interface PublishFrame {
  type: typeof FrameType.publish;
  id?: number;
  channel: string;
  data: unknown;
  /** Idempotency key: a second publish with the same key to the same channel is not delivered again. */
  key?: string;
  /** Publish only if the channel's last offset is still this. */
  ifOffset?: number;
  /** Drop the message if it is not delivered within this many ms. */
  ttl?: number;
  /** False: this connection's own subscriptions do not receive it. Default true. */
  echo?: boolean;
}
export interface RefreshFrame {
  type: typeof FrameType.refresh;
  id?: number;
  token: string;
}
export interface PongFrame {
  type: typeof FrameType.pong;
}
/** Asks who is in a channel (authorized like a subscribe; the connection need not be subscribed). */
export interface PresenceRequestFrame {
  type: typeof FrameType.presence;
  id?: number;
  channel: string;
}
/**
 * Asks for a page of a channel's history, as `GET /history` does (authorized like a subscribe; the
 * connection need not be subscribed): the newest `limit`, those after `since`, or those before `before`.
 */
export interface HistoryRequestFrame {
  type: typeof FrameType.history;
  id?: number;
  channel: string;
  since?: Position;
  before?: Position;
  limit?: number;
}
export type ClientFrame =
  | HistoryRequestFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | RefreshFrame
  | PongFrame
  | PresenceRequestFrame;

/** One connection in a channel's presence. A user with two tabs open is two members with the same `user`. */
export interface PresenceMember {
  /** The connection id (the `client` of its `welcome`). */
  client: string;
  /** The identity id. */
  user: string;
  /** The identity's `info`, as the server's authenticate gave it. */
  info?: Record<string, unknown>;
}

// Server → client

export interface WelcomeFrame {
  type: typeof FrameType.welcome;
  version: number;
  client: string;
  heartbeat: number;
  /** Largest `data` the server accepts, JSON bytes (absent from older servers: `Defaults.maxMessageBytes`). */
  maxMessageBytes?: number;
  /** Largest frame the server accepts, bytes (absent from older servers: `Defaults.maxFrameBytes`). */
  maxFrameBytes?: number;
  /** When the connection's token expires, ms since the Unix epoch: refresh before (absent: never). */
  expiresAt?: number;
}
export interface SubscribedFrame {
  type: typeof FrameType.subscribed;
  id?: number;
  channel: string;
  /** The position delivery continues after (messages, or a reset, follow). Absent for a pattern. */
  epoch?: string;
  offset?: number;
}
export interface RefreshedFrame {
  type: typeof FrameType.refreshed;
  id?: number;
  /** When the new token expires, ms since the Unix epoch. */
  expiresAt?: number;
}
export interface UnsubscribedFrame {
  type: typeof FrameType.unsubscribed;
  id?: number;
  channel: string;
  code?: ErrorCode;
  reason?: string;
}
export interface AckFrame {
  type: typeof FrameType.ack;
  id?: number;
  channel: string;
  epoch: string;
  offset: number;
  ts: number;
  duplicate?: boolean;
}
export interface MessageFrame {
  type: typeof FrameType.message;
  channel: string;
  /** Present when the message is delivered for a pattern subscription: the pattern. */
  pattern?: string;
  epoch: string;
  offset: number;
  ts: number;
  data: unknown;
}
export interface SnapshotFrame {
  type: typeof FrameType.snapshot;
  channel: string;
  pattern?: string;
  epoch: string;
  offset: number;
  ts: number;
  data: unknown;
}
export interface ResetFrame {
  type: typeof FrameType.reset;
  channel: string;
  epoch: string;
  offset: number;
}
export interface ErrorFrame {
  type: typeof FrameType.error;
  id?: number;
  channel?: string;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}
export interface PingFrame {
  type: typeof FrameType.ping;
}
export interface DisconnectFrame {
  type: typeof FrameType.disconnect;
  code: ErrorCode;
  reason: string;
  reconnect: boolean;
}
/** The reply to a `presence` request: the channel's members now. */
export interface PresenceFrame {
  type: typeof FrameType.presence;
  id?: number;
  channel: string;
  members: PresenceMember[];
}
/** A member came into (`join`) or left (`leave`) a channel this connection is subscribed to. */
export interface JoinFrame {
  type: typeof FrameType.join;
  channel: string;
  member: PresenceMember;
}
export interface LeaveFrame {
  type: typeof FrameType.leave;
  channel: string;
  member: PresenceMember;
}
/** The reply to a `history` request: the channel's position now, and the page (as `GET /history` answers). */
export interface HistoryFrame {
  type: typeof FrameType.history;
  id?: number;
  channel: string;
  epoch: string;
  offset: number;
  /** `since` could not be served: `frames` start with the snapshot (if any) and what was retained after it. */
  reset: boolean;
  frames: (MessageFrame | SnapshotFrame)[];
}
export type ServerFrame =
  | HistoryFrame
  | WelcomeFrame
  | SubscribedFrame
  | RefreshedFrame
  | UnsubscribedFrame
  | AckFrame
  | MessageFrame
  | SnapshotFrame
  | ResetFrame
  | ErrorFrame
  | PingFrame
  | DisconnectFrame
  | PresenceFrame
  | JoinFrame
  | LeaveFrame;

function invalid(field: string, expected: string): TidingsError {
  return new TidingsError(Codes.invalidField, `field "${field}" must be ${expected}`, { field });
}

function optionalRequestId(frame: Record<string, unknown>): number | undefined {
  const id = frame.id;
  if (id === undefined) return undefined;
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw invalid('id', 'a non-negative integer');
  return id as number;
}

export function parseSince(since: unknown): SinceSpec {
  if (since === undefined || since === Since.now) return Since.now;
  if (since === Since.snapshot) return Since.snapshot;
  if (isPosition(since)) return { epoch: since.epoch, offset: since.offset };
  throw invalid('since', '"now", "snapshot" or {"epoch": string, "offset": integer}');
}

/**
 * Validates one frame from a client. Throws a TidingsError with a stable code for anything that is not
 * a well-formed frame; never trusts a field it has not checked.
 */
export function parseClientFrame(text: string, maxBytes: number = Defaults.maxFrameBytes): ClientFrame {
  if (text.length > maxBytes)
    throw new TidingsError(Codes.frameTooLarge, `frame larger than ${maxBytes} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TidingsError(Codes.malformedFrame, 'frame is not valid JSON');
  }
  return validateClientFrame(value);
}

export function validateClientFrame(value: unknown): ClientFrame {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TidingsError(Codes.malformedFrame, 'frame must be a JSON object');
  }
  const frame = value as Record<string, unknown>;
  const id = optionalRequestId(frame);
  const withId = <T extends object>(f: T): T => (id === undefined ? f : { ...f, id });
  switch (frame.type) {
    case FrameType.subscribe:
      assertChannelOrPattern(frame.channel);
      return withId({ type: FrameType.subscribe, channel: frame.channel, since: parseSince(frame.since) });
    case FrameType.unsubscribe:
      assertChannelOrPattern(frame.channel);
      return withId({ type: FrameType.unsubscribe, channel: frame.channel });
    case FrameType.publish: {
      assertChannelName(frame.channel);
      if (!('data' in frame)) throw invalid('data', 'present');
      const out: PublishFrame = { type: FrameType.publish, channel: frame.channel, data: frame.data };
      if (frame.key !== undefined) {
        if (typeof frame.key !== 'string' || frame.key.length === 0 || frame.key.length > 128) {
          throw invalid('key', 'a string of 1-128 characters');
        }
        out.key = frame.key;
      }
      if (frame.ifOffset !== undefined) {
        if (!Number.isSafeInteger(frame.ifOffset) || (frame.ifOffset as number) < 0)
          throw invalid('ifOffset', 'a non-negative integer');
        out.ifOffset = frame.ifOffset as number;
      }
      if (frame.echo !== undefined) {
        if (typeof frame.echo !== 'boolean') throw invalid('echo', 'a boolean');
        out.echo = frame.echo;
      }
      if (frame.ttl !== undefined) {
        if (!Number.isSafeInteger(frame.ttl) || (frame.ttl as number) <= 0)
          throw invalid('ttl', 'a positive integer (ms)');
        out.ttl = frame.ttl as number;
      }
      return withId(out);
    }
    case FrameType.refresh:
      if (typeof frame.token !== 'string' || frame.token.length === 0 || frame.token.length > 8192) {
        throw invalid('token', 'a string of 1-8192 characters');
      }
      return withId({ type: FrameType.refresh, token: frame.token });
    case FrameType.pong:
      return { type: FrameType.pong };
    case FrameType.presence:
      // A pattern has no members: presence is per channel.
      assertChannelName(frame.channel);
      return withId({ type: FrameType.presence, channel: frame.channel });
    case FrameType.history: {
      assertChannelName(frame.channel);
      const out: HistoryRequestFrame = { type: FrameType.history, channel: frame.channel };
      for (const name of ['since', 'before'] as const) {
        const position = frame[name];
        if (position === undefined) continue;
        if (!isPosition(position)) {
          throw new TidingsError(Codes.invalidCursor, `${name} must be a position {epoch, offset}`, {
            field: name,
          });
        }
        out[name] = { epoch: position.epoch, offset: position.offset };
      }
      if (frame.limit !== undefined) {
        const limit = frame.limit as number;
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > Defaults.maxHistoryBatch) {
          throw invalid('limit', `an integer from 1 to ${Defaults.maxHistoryBatch}`);
        }
        out.limit = limit;
      }
      return withId(out);
    }
    default:
      throw new TidingsError(
        Codes.unknownFrame,
        `unknown frame type ${JSON.stringify(String(frame.type).slice(0, 32))}`,
      );
  }
}

export function errorFrame(error: TidingsError, id?: number, channel?: string): ErrorFrame {
  const frame: ErrorFrame = { type: FrameType.error, code: error.code, message: error.message };
  if (id !== undefined) frame.id = id;
  if (channel !== undefined) frame.channel = channel;
  if (error.details) frame.details = { ...error.details };
  return frame;
}
