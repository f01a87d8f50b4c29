import { assertChannelName, ErrorCode, TidingsError } from '@tidings/protocol';
import { DEFAULT_RETENTION, type EngineMessage } from '@tidings/server';

export interface NatsEngineOptions {
  /** NATS server URL(s), default `127.0.0.1:4222`. */
  servers?: string | string[];
  /** Name of the JetStream stream holding the messages (default `TIDINGS`); snapshots go to `<stream>_SNAP`. */
  stream?: string;
  /** Channel `chat.room` is stored on subject `<subjectPrefix>.chat.room` (default `tidings`). */
  subjectPrefix?: string;
  /**
   * Stream-wide `max_age`, ms (default 24 h, 0 = unlimited). Bounds every channel's `policy.ttlMs`, and is
   * how long an idle channel keeps its position: once all its messages are older, it starts a new epoch.
   */
  maxAgeMs?: number;
  /** Stream-wide `max_msgs_per_subject` (default 1 000): bounds every channel's `policy.size`. */
  maxMsgsPerSubject?: number;
  /** Stream-wide `duplicate_window`, ms (default the default `policy.idempotencyMs`): bounds every channel's. */
  duplicateWindowMs?: number;
  /** JetStream storage of the streams created by the engine (default `file`). */
  storage?: 'file' | 'memory';
  /** Replicas of the streams created by the engine (default 1). */
  replicas?: number;
  /** How long one NATS request may take before the call fails with ENGINE_UNAVAILABLE, ms (default 2 000). */
  requestTimeoutMs?: number;
  /** How long the first connection attempt may take, ms (default 2 000). */
  connectTimeoutMs?: number;
  /** Wait between reconnect attempts after the connection drops, ms (default 1 000, plus jitter). */
  reconnectTimeWaitMs?: number;
  /**
   * A presence member expires this long (ms, default 30 000) after its process last refreshed it; each
   * engine refreshes its own every third of it. Give every process the same value: the presence stream
   * (`<stream>_PRES`) keeps entries twice the TTL of the process that created it.
   */
  presenceTtlMs?: number;
  /** Connection name shown by the NATS server's monitoring. */
  name?: string;
  /** Called when a listener throws; the default logs to stderr. Delivery to the others goes on. */
  onListenerError?: (error: unknown, message: EngineMessage) => void;
}

export type ResolvedNatsOptions = Required<Omit<NatsEngineOptions, 'name'>> & { name?: string };

const STREAM_NAME_RE = /^[A-Za-z0-9_-]{1,200}$/;

function nonNegative(value: number | undefined, fallback: number, field: string): number {
  const resolved = value ?? fallback;
  if (!Number.isFinite(resolved) || resolved < 0) {
    throw new TidingsError(
      ErrorCode.invalidField,
      `NatsEngine option ${field} must be a non-negative number`,
      {
        field,
      },
    );
  }
  return resolved;
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved <= 0) {
    throw new TidingsError(ErrorCode.invalidField, `NatsEngine option ${field} must be a positive integer`, {
      field,
    });
  }
  return resolved;
}

export function resolveOptions(options: NatsEngineOptions): ResolvedNatsOptions {
  const stream = options.stream ?? 'TIDINGS';
  if (!STREAM_NAME_RE.test(stream)) {
    throw new TidingsError(ErrorCode.invalidField, `invalid NATS stream name ${JSON.stringify(stream)}`, {
      field: 'stream',
    });
  }
  const subjectPrefix = options.subjectPrefix ?? 'tidings';
  // A prefix is spelled like a channel name, so it is also a valid run of subject tokens.
  assertChannelName(subjectPrefix);
  const maxMsgsPerSubject = nonNegative(options.maxMsgsPerSubject, 1_000, 'maxMsgsPerSubject');
  if (!Number.isSafeInteger(maxMsgsPerSubject) || maxMsgsPerSubject < 1) {
    throw new TidingsError(ErrorCode.invalidField, 'NatsEngine option maxMsgsPerSubject must be ≥ 1', {
      field: 'maxMsgsPerSubject',
    });
  }
  const resolved: ResolvedNatsOptions = {
    servers: options.servers ?? '127.0.0.1:4222',
    stream,
    subjectPrefix,
    maxAgeMs: nonNegative(options.maxAgeMs, 24 * 3_600_000, 'maxAgeMs'),
    maxMsgsPerSubject,
    duplicateWindowMs: nonNegative(
      options.duplicateWindowMs,
      DEFAULT_RETENTION.idempotencyMs,
      'duplicateWindowMs',
    ),
    storage: options.storage ?? 'file',
    replicas: nonNegative(options.replicas, 1, 'replicas'),
    requestTimeoutMs: nonNegative(options.requestTimeoutMs, 2_000, 'requestTimeoutMs'),
    connectTimeoutMs: nonNegative(options.connectTimeoutMs, 2_000, 'connectTimeoutMs'),
    reconnectTimeWaitMs: nonNegative(options.reconnectTimeWaitMs, 1_000, 'reconnectTimeWaitMs'),
    presenceTtlMs: positiveInteger(options.presenceTtlMs, 30_000, 'presenceTtlMs'),
    onListenerError: options.onListenerError ?? defaultListenerError,
  };
  if (options.name !== undefined) resolved.name = options.name;
  return resolved;
}

function defaultListenerError(error: unknown): void {
  console.error('tidings: a NATS engine listener threw', error);
}
