import {
  type AckFrame,
  type DisconnectFrame,
  ErrorCode,
  type ErrorFrame,
  FrameType,
  isTidingsError,
  type JoinFrame,
  type LeaveFrame,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type PresenceMember,
  type RefreshedFrame,
  type ResetFrame,
  type SubscribedFrame,
  TidingsError,
  type UnsubscribedFrame,
  type WelcomeFrame,
} from '@tidings/protocol';
import type { PresenceEvent } from '../engine.js';
import type { Published } from '../hub.js';

// Encoders of the frames the server writes besides `message` and `snapshot`, which come pre-encoded
// from the hub's Envelope. `id` goes right after `type`, as in docs/PROTOCOL.md.

export const PING_FRAME = `{"type":"${FrameType.ping}"}`;

/** The server's size limits, as `welcome` and the publish endpoint's `Tidings-Limits` header give them. */
export interface SizeLimits {
  maxMessageBytes: number;
  maxFrameBytes: number;
}

export function welcome(client: string, heartbeat: number, limits: SizeLimits, expiresAt?: number): string {
  const frame: WelcomeFrame = {
    type: FrameType.welcome,
    version: PROTOCOL_VERSION,
    client,
    heartbeat,
    maxMessageBytes: limits.maxMessageBytes,
    maxFrameBytes: limits.maxFrameBytes,
    expiresAt,
  };
  return JSON.stringify(frame);
}

export function subscribed(channel: string, id?: number, epoch?: string, offset?: number): string {
  const frame: SubscribedFrame = { type: FrameType.subscribed, id, channel, epoch, offset };
  return JSON.stringify(frame);
}

export function unsubscribed(channel: string, id?: number, code?: ErrorCode, reason?: string): string {
  const frame: UnsubscribedFrame = { type: FrameType.unsubscribed, id, channel, code, reason };
  return JSON.stringify(frame);
}

export function reset(channel: string, epoch: string, offset: number): string {
  const frame: ResetFrame = { type: FrameType.reset, channel, epoch, offset };
  return JSON.stringify(frame);
}

export function ack(published: Published, id?: number): string {
  const { channel, epoch, offset, ts } = published;
  const frame: AckFrame = { type: FrameType.ack, id, channel, epoch, offset, ts };
  if (published.duplicate) frame.duplicate = true;
  return JSON.stringify(frame);
}

export function refreshed(id?: number, expiresAt?: number): string {
  const frame: RefreshedFrame = { type: FrameType.refreshed, id, expiresAt };
  return JSON.stringify(frame);
}

export function presence(channel: string, members: PresenceMember[], id?: number): string {
  const frame: PresenceFrame = { type: FrameType.presence, id, channel, members };
  return JSON.stringify(frame);
}

let lastEvent: PresenceEvent | undefined;
let lastEventFrame = '';

/** A `join` or `leave` frame. Every subscriber is sent the same event object: it is encoded once. */
export function presenceEvent(event: PresenceEvent): string {
  if (event !== lastEvent) {
    const { type, channel, member } = event;
    const frame: JoinFrame | LeaveFrame = {
      type: type === 'join' ? FrameType.join : FrameType.leave,
      channel,
      member,
    };
    lastEventFrame = JSON.stringify(frame);
    lastEvent = event;
  }
  return lastEventFrame;
}

export function error(cause: unknown, id?: number, channel?: string): string {
  const { code, message, details } = toTidingsError(cause);
  const frame: ErrorFrame = { type: FrameType.error, id, channel, code, message };
  if (details !== undefined) frame.details = { ...details };
  return JSON.stringify(frame);
}

export function disconnect(code: ErrorCode, reason: string, reconnect: boolean): string {
  const frame: DisconnectFrame = { type: FrameType.disconnect, code, reason, reconnect };
  return JSON.stringify(frame);
}

/** Anything thrown below a transport becomes a TidingsError; one that is not already is INTERNAL. */
export function toTidingsError(cause: unknown): TidingsError {
  if (isTidingsError(cause)) return cause;
  return new TidingsError(ErrorCode.internal, 'internal error', undefined, { cause });
}
