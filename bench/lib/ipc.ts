import type { HistogramData } from './histogram.js';

/** Messages between the orchestrator and its server and load processes (JSON over the fork IPC channel). */

export interface ServerSample {
  /** User + system CPU time of the server process so far, µs. */
  cpuUs: number;
  /** Read and write system calls of the server process so far (Linux only: `/proc/self/io`). */
  syscr?: number;
  syscw?: number;
  rss: number;
  heapUsed: number;
  at: number;
  /** Seconds since the server process started. */
  uptime: number;
}

export interface PublishPlan {
  channels: string[];
  /** Subscribers of each channel, so the publisher knows how many deliveries a publish costs. */
  subscribers: number[];
  /** Messages per second over all channels; 0 = as fast as delivery keeps up (see `window`). */
  rate: number;
  seconds: number;
  /** At rate 0: most deliveries published but not yet received, so queues (and latency) stay bounded. */
  window: number;
  payloadBytes: number;
  /** Fault injection for the harness's own tests: number every k-th message but never send it. */
  dropEvery?: number;
}

export type ToServer =
  /** `writeDelayMs`: the Tidings server's `writeDelayMs` option (baselines ignore it); unset = its default. */
  | { type: 'start'; target: string; writeDelayMs?: number }
  | { type: 'sample'; gc: boolean }
  | { type: 'prime'; channels: string[] }
  | { type: 'run'; plan: PublishPlan }
  /** Deliveries received so far by all subscribers: the publisher's credit at rate 0. */
  | { type: 'credit'; delivered: number }
  /** Broadcast scenario: publish message `n` once to `channel`, now. */
  | { type: 'broadcast'; channel: string; n: number; payloadBytes: number }
  | { type: 'close' };

export interface Published {
  /** Messages published to each channel (sequence numbers 1..count). */
  perChannel: number[];
  startedAt: number;
  endedAt: number;
  /** Publishes that threw or rejected. */
  errors: number;
  firstError?: string;
}

export type FromServer =
  | { type: 'listening'; port: number; writeDelayMs?: number }
  | { type: 'unavailable'; reason: string }
  | { type: 'failed'; reason: string }
  | ({ type: 'sample' } & ServerSample)
  | ({ type: 'published' } & Published);

export interface LoadConfig {
  target: string;
  port: number;
  channels: string[];
  /** This process's subscribers are global indexes first..first+count-1; subscriber i reads channels[i % channels.length]. */
  first: number;
  count: number;
  connectBatch: number;
  connectTimeoutMs: number;
  /** Broadcast scenario: record when each message was sent and when its last copy here arrived. */
  broadcast?: boolean;
}

export interface LoadReport {
  subscribers: number;
  /** Messages counted (n ≥ 1), duplicates included. */
  received: number;
  /** Subscribers whose sequence is exactly 1..expected. */
  complete: number;
  missing: number;
  duplicates: number;
  /** Messages that arrived after a later one (or skipped ahead). */
  outOfOrder: number;
  closed: number;
  problems: string[];
  latency: HistogramData;
  lastReceivedAt: number;
  cpuUs: number;
  /** Read and write system calls of the server process so far (Linux only: `/proc/self/io`). */
  syscr?: number;
  syscw?: number;
  rss: number;
  /** Reconnect scenario: per subscriber, ms from the drop (−1 = never). */
  reconnect?: ReconnectReport;
  /** Broadcast scenario: per message n (index n − 1), its `sent` and the arrival of its last copy here (0 = none). */
  broadcast?: { sent: number[]; lastAt: number[] };
}

export interface ReconnectReport {
  /** Until the resumed subscription was accepted (the transport's own `connected`). */
  resumedMs: number[];
  /** Until the first message published after that acceptance arrived (see docs/BENCHMARKS.md). */
  catchUpMs: number[];
  failed: number;
  firstError?: string;
}

export type ToLoad =
  | { type: 'start'; config: LoadConfig }
  /** Start of the measured window: reset latency and CPU baselines. */
  | { type: 'measure' }
  /** Reconnect scenario: drop every connection now and resume each from its last position. */
  | { type: 'drop' }
  /** Messages published per channel, to check every subscriber against. */
  | { type: 'report'; expected: number[] }
  | { type: 'close' };

export interface Progress {
  /** Distinct in-order messages received (n ≥ 1), over all subscribers. */
  delivered: number;
  /** Subscribers that have received a priming message. */
  primed: number;
  closed: number;
  /** Reconnect scenario: subscribers caught up since the drop. */
  caughtUp: number;
}

export type FromLoad =
  | { type: 'connected'; ok: number; failed: number; ms: number; firstError?: string }
  | { type: 'failed'; reason: string }
  | ({ type: 'progress' } & Progress)
  | ({ type: 'report' } & LoadReport);
