import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import type { EngineMessage, RetentionPolicy } from '@tidings/engine';

/**
 * Header names. A channel's position travels with each of its messages: JetStream sequences are
 * stream-wide, so the per-channel offset and the epoch are stamped on every message at append time.
 */
export const Header = {
  epoch: 'Tidings-Epoch',
  offset: 'Tidings-Offset',
  ts: 'Tidings-Ts',
  id: 'Tidings-Id',
  expiresAt: 'Tidings-Expires-At',
  origin: 'Tidings-Origin',
  /** The publish's `policy.size` and `policy.ttlMs`: the last message's policy rules the channel's reads. */
  size: 'Tidings-Size',
  ttl: 'Tidings-Ttl',
} as const;

/**
 * One stored message of a channel subject. Offset 0 is the channel's start marker: written when a
 * channel with no stored messages is first named, it fixes the epoch that the following messages copy.
 */
export interface StoredRecord extends EngineMessage {
  /** Stream sequence. */
  seq: number;
  size?: number;
  ttlMs?: number;
}

export interface RecordFields {
  epoch: string;
  offset: number;
  ts: number;
  id?: string;
  expiresAt?: number;
  origin?: string;
  policy?: RetentionPolicy;
}

export function encodeHeaders(fields: RecordFields): MsgHdrs {
  const h = natsHeaders();
  h.set(Header.epoch, fields.epoch);
  h.set(Header.offset, String(fields.offset));
  h.set(Header.ts, String(fields.ts));
  // Ids and origins are arbitrary strings; header values must not hold line breaks.
  if (fields.id !== undefined) h.set(Header.id, encodeURIComponent(fields.id));
  if (fields.expiresAt !== undefined) h.set(Header.expiresAt, String(fields.expiresAt));
  if (fields.origin !== undefined) h.set(Header.origin, encodeURIComponent(fields.origin));
  if (fields.policy) {
    h.set(Header.size, String(fields.policy.size));
    h.set(Header.ttl, String(fields.policy.ttlMs));
  }
  return h;
}

function integer(h: MsgHdrs, name: string): number | undefined {
  const text = h.get(name);
  if (text === '') return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

function finite(h: MsgHdrs, name: string): number | undefined {
  const text = h.get(name);
  if (text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function decoded(h: MsgHdrs, name: string): string | undefined {
  const text = h.get(name);
  if (text === '') return undefined;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Decodes a stored or republished message; null for anything the engine did not write. */
export function decodeRecord(
  channel: string,
  seq: number,
  h: MsgHdrs | undefined,
  data: string,
): StoredRecord | null {
  if (!h) return null;
  const epoch = h.get(Header.epoch);
  const offset = integer(h, Header.offset);
  const ts = finite(h, Header.ts);
  if (epoch === '' || offset === undefined || offset < 0 || ts === undefined) return null;
  const record: StoredRecord = { channel, epoch, offset, ts, data, seq };
  const id = decoded(h, Header.id);
  if (id !== undefined) record.id = id;
  const expiresAt = finite(h, Header.expiresAt);
  if (expiresAt !== undefined) record.expiresAt = expiresAt;
  const origin = decoded(h, Header.origin);
  if (origin !== undefined) record.origin = origin;
  const size = integer(h, Header.size);
  if (size !== undefined) record.size = size;
  const ttlMs = finite(h, Header.ttl);
  if (ttlMs !== undefined) record.ttlMs = ttlMs;
  return record;
}

/** The EngineMessage part of a record, without the storage details. */
export function toMessage(record: StoredRecord): EngineMessage {
  const message: EngineMessage = {
    channel: record.channel,
    epoch: record.epoch,
    offset: record.offset,
    ts: record.ts,
    data: record.data,
  };
  if (record.id !== undefined) message.id = record.id;
  if (record.expiresAt !== undefined) message.expiresAt = record.expiresAt;
  if (record.origin !== undefined) message.origin = record.origin;
  return message;
}
