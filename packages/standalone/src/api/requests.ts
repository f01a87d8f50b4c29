import {
  assertChannelName,
  assertChannelOrPattern,
  Defaults,
  ErrorCode,
  isPosition,
  type Position,
  TidingsError,
} from '@tidings/protocol';
import { z } from 'zod';
import { fieldPath } from '../config/config-error.js';
import { isReserved } from '../reserved.js';

// The bodies and queries of the HTTP API. Shapes are checked here (INVALID_FIELD, naming the field);
// channel names by @tidings/protocol, so a bad one is INVALID_CHANNEL exactly as on the client side.

const MAX_BROADCAST_CHANNELS = 1_000;
const MAX_CHANNEL_LIST = 10_000;

const channel = z.string({ error: 'expected a channel name' });
const key = z
  .string({ error: 'expected a string of 1-128 characters' })
  .min(1, { error: 'expected a string of 1-128 characters' })
  .max(128, { error: 'expected a string of 1-128 characters' });
const positiveMs = z
  .number({ error: 'expected a positive integer (ms)' })
  .int({ error: 'expected a positive integer (ms)' })
  .positive({ error: 'expected a positive integer (ms)' });

const hasData = (body: { data?: unknown }) => body.data !== undefined;
const dataMissing = { error: 'expected "data": any JSON value', path: ['data'] };

export const publishBody = z
  .strictObject({
    channel,
    data: z.unknown().optional(),
    key: key.optional(),
    ttl: positiveMs.optional(),
    ifOffset: z
      .number({ error: 'expected a non-negative integer' })
      .int({ error: 'expected a non-negative integer' })
      .min(0, { error: 'expected a non-negative integer' })
      .optional(),
  })
  .refine(hasData, dataMissing);

export const broadcastBody = z
  .strictObject({
    channels: z
      .array(channel, { error: 'expected a list of channel names' })
      .min(1, { error: `expected 1-${MAX_BROADCAST_CHANNELS} channel names` })
      .max(MAX_BROADCAST_CHANNELS, { error: `expected 1-${MAX_BROADCAST_CHANNELS} channel names` })
      .optional(),
    pattern: z.string({ error: 'expected a channel pattern such as "news.*"' }).optional(),
    data: z.unknown().optional(),
    key: key.optional(),
    ttl: positiveMs.optional(),
  })
  .refine(hasData, dataMissing)
  .refine((body) => (body.channels === undefined) !== (body.pattern === undefined), {
    error: 'expected exactly one of "channels" or "pattern"',
  });

export const stateBody = z
  .strictObject({ channel, data: z.unknown().optional() })
  .refine(hasData, dataMissing);

const errorCodes = Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]];

export const disconnectBody = z.strictObject({
  user: z
    .string({ error: 'expected an identity id' })
    .min(1, { error: 'expected an identity id' })
    .max(256, { error: 'expected an identity id of at most 256 characters' }),
  code: z.enum(errorCodes, { error: 'expected an error code such as "FORBIDDEN"' }).optional(),
  reason: z
    .string({ error: 'expected a string' })
    .max(200, { error: 'expected at most 200 characters' })
    .optional(),
  reconnect: z.boolean({ error: 'expected true or false' }).optional(),
});

/** Parses a body with a schema; the first wrong field becomes an INVALID_FIELD error naming it. */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TidingsError(ErrorCode.malformedFrame, 'the body must be a JSON object');
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  const field = fieldPath(path, 'body');
  throw new TidingsError(ErrorCode.invalidField, `${field}: ${message}`, { field: field.slice(5) });
}

/** A channel the API may publish to, read or list: valid, and not one of the reserved ones. */
export function apiChannel(name: unknown): string {
  assertChannelName(name);
  if (isReserved(name)) throw reserved(name);
  return name;
}

export function apiPattern(name: unknown): string {
  assertChannelOrPattern(name);
  if (name.startsWith('_tidings')) throw reserved(name);
  return name;
}

function reserved(name: string): TidingsError {
  return new TidingsError(ErrorCode.invalidChannel, `${name} is reserved for the server's own use`);
}

/** `since=epoch:offset` of GET /history. */
export function parseSince(text: string | null): Position | undefined {
  if (text === null || text === '') return undefined;
  const colon = text.lastIndexOf(':');
  const offsetText = text.slice(colon + 1);
  const position = { epoch: text.slice(0, colon), offset: Number(offsetText) };
  if (colon <= 0 || offsetText === '' || !isPosition(position)) {
    throw new TidingsError(
      ErrorCode.invalidField,
      'since: expected a position "epoch:offset", e.g. "Ab12Cd34Ef56:17"',
      {
        field: 'since',
      },
    );
  }
  return position;
}

/** A `limit` query parameter: absent, or an integer from 1 to `max`. */
export function parseLimit(text: string | null, fallback: number, max: number): number {
  if (text === null || text === '') return fallback;
  const limit = Number(text);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new TidingsError(ErrorCode.invalidField, `limit: expected an integer from 1 to ${max}`, {
      field: 'limit',
    });
  }
  return limit;
}

export const HISTORY_LIMIT = { fallback: 100, max: Defaults.maxHistoryBatch };
export const CHANNELS_LIMIT = { fallback: 1_000, max: MAX_CHANNEL_LIST };
