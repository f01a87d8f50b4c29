import type { BenchData } from '../lib/payload.js';

/** The server side of a target, running alone in the server process so its CPU and RSS are its own. */
export interface BenchServer {
  readonly port: number;
  /** The Tidings server's `writeDelayMs` in effect (baselines: absent). */
  readonly writeDelayMs?: number;
  /** Delivers `data` to every subscriber of `channel`. A returned promise (Tidings' hub) is watched for failures. */
  publish(channel: string, data: BenchData): unknown;
  close(): Promise<void>;
}

/** Server settings a run sweeps over. A setting a target does not have is ignored. */
export interface ServerOptions {
  /** The Tidings server's `writeDelayMs`; unset = its default. */
  writeDelayMs?: number;
}

export type StartServer = (options: ServerOptions) => Promise<BenchServer>;

/** Called by a subscriber for each message it receives. */
export type Sink = (n: number, sent: number) => void;

export interface ClientOptions {
  port: number;
  channel: string;
  onMessage: Sink;
  /** The connection ended or failed after it was established. */
  onClose: (reason: string) => void;
  /** Tidings targets only: resume after this position of the channel instead of from now. */
  since?: { epoch: string; offset: number };
  /** Tidings targets only: the position of every message frame received, before `onMessage`. */
  onPosition?: (epoch: string, offset: number) => void;
}

export interface BenchClient {
  close(): void;
}

/** Opens one subscriber; resolves once the server accepted it (liveness is proven later by priming). */
export type ConnectClient = (options: ClientOptions) => Promise<BenchClient>;

export interface Target {
  readonly name: string;
  /** Only Tidings targets run the Tidings-specific scenarios (reconnect). */
  readonly tidings: boolean;
  /** Why the target cannot run here, or null if it can. */
  unavailable(): Promise<string | null>;
  /** Loaded in the server process only. */
  server(): Promise<StartServer>;
  /** Loaded in the load processes only. */
  client(): Promise<ConnectClient>;
}

/** Thrown by a server module whose implementation does not exist yet: the target is skipped, not failed. */
export class TargetUnavailable extends Error {
  override readonly name = 'TargetUnavailable';
}
