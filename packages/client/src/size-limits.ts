import { Defaults, ErrorCode, type PublishFrame, TidingsError } from '@tidings/protocol';

/** What the server accepts: its `welcome` says, or the publish endpoint's `Tidings-Limits` header. */
export interface SizeLimits {
  maxMessageBytes: number;
  maxFrameBytes: number;
}

/** Until the server says otherwise: the protocol's documented defaults. */
export const DEFAULT_SIZE_LIMITS: SizeLimits = {
  maxMessageBytes: Defaults.maxMessageBytes,
  maxFrameBytes: Defaults.maxFrameBytes,
};

/**
 * Reads `maxMessageBytes=65536, maxFrameBytes=131072` (and a poll answer's `expiresAt=<ms>`); what is
 * missing or not a positive number is left out.
 */
export function parseSizeLimits(header: string | null): Partial<SizeLimits & { expiresAt: number }> {
  const limits: Partial<SizeLimits & { expiresAt: number }> = {};
  for (const name of ['maxMessageBytes', 'maxFrameBytes', 'expiresAt'] as const) {
    const value = Number(header?.match(`${name}=(\\d+)`)?.[1]);
    if (value > 0) limits[name] = value;
  }
  return limits;
}

/**
 * Why the server would refuse this publish for its size, or for data JSON cannot carry; undefined
 * when it fits. Refused here, it is never sent: a publish the server cannot take must not sit in the
 * outbox (or, over WebSocket, close the connection it is sent on, again after every reconnect).
 */
export function sizeError(frame: PublishFrame, limits: SizeLimits): TidingsError | undefined {
  let json: string;
  try {
    json = JSON.stringify(frame);
  } catch (cause) {
    return new TidingsError(ErrorCode.notSerializable, String(cause));
  }
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: most publishes need no exact count.
  if (json.length * 3 <= Math.min(limits.maxMessageBytes, limits.maxFrameBytes)) return undefined;
  return (
    tooLarge(ErrorCode.messageTooLarge, JSON.stringify(frame.data) ?? '', limits.maxMessageBytes) ??
    tooLarge(ErrorCode.frameTooLarge, json, limits.maxFrameBytes)
  );
}

function tooLarge(code: ErrorCode, json: string, limit: number): TidingsError | undefined {
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > limit) return new TidingsError(code, `${bytes} bytes > ${limit}`, { bytes, limit });
  return undefined;
}
