import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import type { ResolvedNatsOptions } from './options.js';
import type { Subjects } from './subjects.js';

export function snapshotStreamName(stream: string): string {
  return `${stream}_SNAP`;
}

function common(options: ResolvedNatsOptions): Partial<StreamConfig> {
  return {
    retention: RetentionPolicy.Limits,
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: options.replicas,
    discard: DiscardPolicy.Old,
    max_age: nanos(options.maxAgeMs),
    // The engine reads single messages by subject or sequence on every append and read.
    allow_direct: true,
  };
}

/**
 * The data stream. Republish matters: a core subscription on the stream's own subjects would also see
 * publishes JetStream rejected (duplicates, lost append races), while the republished copy exists only
 * for stored messages, in stream order, so live listeners get exactly what `read` returns.
 */
type NamedConfig = Partial<StreamConfig> & { name: string; subjects: string[] };

export function dataStreamConfig(options: ResolvedNatsOptions, subjects: Subjects): NamedConfig {
  // JetStream refuses a duplicate window longer than max_age.
  const window =
    options.maxAgeMs > 0 ? Math.min(options.duplicateWindowMs, options.maxAgeMs) : options.duplicateWindowMs;
  return {
    ...common(options),
    name: options.stream,
    subjects: [`${subjects.data}.>`],
    max_msgs_per_subject: options.maxMsgsPerSubject,
    duplicate_window: nanos(window),
    republish: { src: `${subjects.data}.>`, dest: `${subjects.live}.>` },
  };
}

/** Snapshots: only the latest per channel is kept. */
export function snapshotStreamConfig(options: ResolvedNatsOptions, subjects: Subjects): NamedConfig {
  return {
    ...common(options),
    name: snapshotStreamName(options.stream),
    subjects: [`${subjects.snap}.>`],
    max_msgs_per_subject: 1,
  };
}

export function presenceStreamName(stream: string): string {
  return `${stream}_PRES`;
}

/**
 * Presence members: the latest entry per member subject. `max_age` is twice the presence TTL: an entry
 * nobody refreshes outlives its member long enough for a prune to announce it, and a left or pruned
 * member's tombstone is gone soon after.
 */
export function presenceStreamConfig(options: ResolvedNatsOptions, subjects: Subjects): NamedConfig {
  const maxAgeMs = 2 * options.presenceTtlMs;
  return {
    ...common(options),
    name: presenceStreamName(options.stream),
    subjects: [`${subjects.pres}.>`],
    max_msgs_per_subject: 1,
    max_age: nanos(maxAgeMs),
    // Nothing here is published with an id; JetStream only needs the window no longer than max_age.
    duplicate_window: nanos(Math.min(maxAgeMs, 120_000)),
    // Join and leave events are headers of the entries: republished in stream order, never apart from them.
    republish: { src: `${subjects.pres}.>`, dest: `${subjects.presEvents}.>` },
  };
}

// JetStream's "stream name already in use with a different configuration" (not in JetStreamApiCodes).
const STREAM_NAME_IN_USE = 10058;

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * Creates the stream, or checks that an existing one has what the engine relies on. Limits of an
 * existing stream (age, size, duplicate window) are left as the operator set them.
 */
export async function ensureStream(jsm: JetStreamManager, config: NamedConfig): Promise<void> {
  const name = config.name;
  for (let attempt = 0; attempt < 3; attempt++) {
    let existing: StreamConfig;
    try {
      existing = (await jsm.streams.info(name)).config;
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      try {
        await jsm.streams.add(config);
        return;
      } catch (addError) {
        // Another process created it first: check what it made.
        if (addError instanceof JetStreamApiError && addError.code === STREAM_NAME_IN_USE) continue;
        throw addError;
      }
    }
    const subject = config.subjects[0] as string;
    const republish = config.republish;
    const missing: string[] = [];
    if (!existing.subjects?.includes(subject)) missing.push(`subjects [${subject}]`);
    if (!existing.allow_direct) missing.push('allow_direct');
    if (
      republish &&
      (existing.republish?.src !== republish.src || existing.republish?.dest !== republish.dest)
    ) {
      missing.push(`republish ${republish.src} → ${republish.dest}`);
    }
    if (missing.length === 0) return;
    throw new TidingsError(
      ErrorCode.internal,
      `NATS stream ${name} exists but lacks ${missing.join(', ')}: delete it or fix its configuration`,
    );
  }
  throw new TidingsError(ErrorCode.engineUnavailable, `NATS stream ${name} could not be created`);
}
