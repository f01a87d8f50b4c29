import type { EngineMessage, Snapshot } from '@tidings/engine';
import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * A stored or published message is a one-line JSON header, a newline, then the data exactly as the
 * publisher gave it: `["chat.a","Ep0ch",12,1712345678901]\n{"text":"hi"}`. The header is written by
 * the Lua script (JSON strings never hold a raw newline), so the data is neither re-encoded nor parsed
 * on the way through, and data that is not valid JSON cannot corrupt the framing.
 *
 * Header: `[channel, epoch, offset, ts, id?, expiresAt?, origin?]`, unset fields `null`, trailing
 * nulls dropped.
 */
export function decodeMessage(text: string): EngineMessage {
  const { header, data } = split(text);
  const [channel, epoch, offset, ts, id, expiresAt, origin] = header;
  if (
    typeof channel !== 'string' ||
    typeof epoch !== 'string' ||
    typeof offset !== 'number' ||
    typeof ts !== 'number'
  ) {
    throw malformed();
  }
  const message: EngineMessage = { channel, epoch, offset, ts, data };
  if (typeof id === 'string') message.id = id;
  if (typeof expiresAt === 'number') message.expiresAt = expiresAt;
  if (typeof origin === 'string') message.origin = origin;
  return message;
}

/** A snapshot: header `[epoch, offset, ts]`, newline, data. */
export function decodeSnapshot(text: string): Snapshot {
  const { header, data } = split(text);
  const [epoch, offset, ts] = header;
  if (typeof epoch !== 'string' || typeof offset !== 'number' || typeof ts !== 'number') throw malformed();
  return { epoch, offset, ts, data };
}

function split(text: string): { header: unknown[]; data: string } {
  const newline = text.indexOf('\n');
  if (newline < 0) throw malformed();
  let header: unknown;
  try {
    header = JSON.parse(text.slice(0, newline));
  } catch {
    throw malformed();
  }
  if (!Array.isArray(header)) throw malformed();
  return { header, data: text.slice(newline + 1) };
}

function malformed(): TidingsError {
  return new TidingsError(
    ErrorCode.internal,
    'malformed record in Redis (written by another Tidings version?)',
  );
}
