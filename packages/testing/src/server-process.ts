import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MOUNT_PATH, ErrorCode, type Position, TidingsError } from '@tidings/protocol';
import type { Published, PublishOptions } from '@tidings/server';

/** Which engine a server process runs on. Processes with the same prefix / stream share their channels. */
export type EngineConfig =
  | { kind: 'memory' }
  | { kind: 'redis'; prefix: string; url?: string; presenceTtlMs?: number }
  | { kind: 'nats'; stream: string; subjectPrefix?: string; servers?: string; presenceTtlMs?: number };

export interface ServerProcessOptions {
  engine: EngineConfig;
  /** The hub's `defaultHistory`. Default: 10 000 messages, so a client catching up never needs a reset. */
  history?: { size?: number; ttlMs?: number; idempotencyMs?: number };
  /** The server's `presence` option: channels (or patterns) whose connections are members. */
  presence?: string[];
  /** The server's heartbeat, ms. Default 1 000. */
  heartbeatMs?: number;
  /** Publishes per connection per second (and burst), so tests may publish fast. Default 10 000. */
  publishRate?: number;
  /** How long SIGTERM waits for clients to leave before cutting them, ms. Default 1 000. */
  shutdownDeadlineMs?: number;
  /** Named in errors and in the echoed output. Default `server-<pid>`. */
  label?: string;
  /** Copy the child's stdout and stderr to this process's stderr as they come. Default false (kept for errors). */
  echo?: boolean;
  /** How long to wait for the child to listen, ms. Default 20 000 (tsx compiles on first start). */
  startTimeoutMs?: number;
}

/** A paced publish run in the child, for benchmarks; each message's data is `{ n, sent, pad }`. */
export interface PublishLoad {
  channel: string;
  /** Messages per second; 0: as fast as `window` allows. */
  rate: number;
  seconds: number;
  /** At rate 0: most deliveries (messages × `fanOut`) published but not yet credited (see `credit`). */
  window?: number;
  /** Deliveries one message costs (its subscribers), for the window. Default 1. */
  fanOut?: number;
  /** JSON size of each message's data, about. Default 100. */
  payloadBytes?: number;
}

export interface PublishLoadResult {
  /** Messages published (numbered 1..published) and acknowledged. */
  published: number;
  errors: number;
  firstError?: string;
  /** Wall-clock ms (performance.timeOrigin based) of the first publish and the last acknowledgement. */
  startedAt: number;
  endedAt: number;
  /** Publish acknowledgement latency (hub.publish resolving), ms. */
  ackP50: number;
  ackP99: number;
}

/** What the parent asks of the child (see server-process-main.ts). */
export type ServerProcessCall =
  | { method: 'publish'; args: [channel: string, data: unknown, options?: PublishOptions] }
  | { method: 'setState'; args: [channel: string, data: unknown] }
  | { method: 'position'; args: [channel: string] }
  | { method: 'stats'; args: [] }
  | { method: 'load'; args: [load: PublishLoad] };

export type ToServerProcess =
  | ({ type: 'call'; id: number } & ServerProcessCall)
  /** Deliveries subscribers have received so far: the credit of a `load` at rate 0. */
  | { type: 'credit'; delivered: number };

export type FromServerProcess =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; code: string; message: string; details?: unknown };

export interface ServerProcessStats {
  connections: Record<string, number>;
  rss: number;
  /** User + system CPU time of the process so far, µs. */
  cpuUs: number;
}

export interface ServerProcess {
  readonly label: string;
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: what a client connects to. */
  readonly origin: string;
  /** The mount URL, `http://127.0.0.1:<port>/tidings`. */
  readonly url: string;
  /** Until it exits. */
  readonly alive: boolean;
  /** Resolves when the process has exited, with how. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last few KB the child printed (stdout and stderr), for failure messages. */
  output(): string;
  /** `hub.publish` in the child. Rejects with the child's TidingsError, or INTERNAL if the child dies first. */
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<Published>;
  setState(channel: string, data: unknown): Promise<Position>;
  position(channel: string): Promise<Position>;
  stats(): Promise<ServerProcessStats>;
  /** Runs a paced publish in the child (benchmarks); resolves when it is done. */
  load(load: PublishLoad, timeoutMs?: number): Promise<PublishLoadResult>;
  credit(delivered: number): void;
  /** SIGKILL, as a crash would: no goodbye to clients. Resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGTERM: the child closes gracefully (clients are told to reconnect). SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const CALL_TIMEOUT_MS = 15_000;
const OUTPUT_TAIL = 8_192;

/** Every child still running, so that an exiting test process never leaves one behind. */
const running = new Set<ChildProcess>();
let hooked = false;

function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

interface Call {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Starts a Tidings server in its own OS process (`node --conditions=@tidings/source --import tsx server-process-main.ts`) on
 * 127.0.0.1, port 0, with the given engine; resolves once it listens. Tests call `kill()` or `stop()`
 * (in `t.after`, which is safe after either); the child also exits by itself when this process goes.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  if (!hooked) {
    hooked = true;
    process.once('exit', killRunning);
  }
  const script = fileURLToPath(new URL('./server-process-main.ts', import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--conditions=@tidings/source', '--import', tsxLoader()],
    env: { ...process.env, TIDINGS_SERVER_PROCESS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Structured clone keeps `undefined` (JSON would turn an omitted argument into null).
    serialization: 'advanced',
  });
  running.add(child);
  const label = options.label ?? `server-${child.pid}`;
  let tail = '';
  const onOutput = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL);
    if (options.echo) process.stderr.write(`[${label}] ${chunk}`);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);

  let alive = true;
  const calls = new Map<number, Call>();
  let nextId = 1;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      running.delete(child);
      const error = new TidingsError(
        ErrorCode.internal,
        `${label} exited (${signal ?? `code ${code}`}) before answering`,
      );
      for (const call of calls.values()) {
        clearTimeout(call.timer);
        call.reject(error);
      }
      calls.clear();
      resolve({ code, signal });
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not listen within ${options.startTimeoutMs ?? 20_000} ms:\n${tail}`));
    }, options.startTimeoutMs ?? 20_000);
    const done = () => clearTimeout(timer);
    child.on('message', (message: FromServerProcess) => {
      if (message.type === 'listening') {
        done();
        resolve(message.port);
      } else if (message.type === 'failed') {
        done();
        child.kill('SIGKILL');
        reject(new Error(`${label} failed to start: ${message.message}\n${tail}`));
      } else if (message.type === 'result' || message.type === 'error') {
        const call = calls.get(message.id);
        if (call === undefined) return;
        calls.delete(message.id);
        clearTimeout(call.timer);
        if (message.type === 'result') call.resolve(message.value);
        else
          call.reject(
            new TidingsError(
              message.code as ErrorCode,
              message.message,
              message.details as Record<string, unknown> | undefined,
            ),
          );
      }
    });
    void exited.then(({ code, signal }) => {
      done();
      reject(new Error(`${label} exited (${signal ?? `code ${code}`}) before listening:\n${tail}`));
    });
  });

  const call = <T>(request: ServerProcessCall, timeoutMs = CALL_TIMEOUT_MS): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!alive || !child.connected) {
        reject(new TidingsError(ErrorCode.internal, `${label} is not running`));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        calls.delete(id);
        reject(
          new TidingsError(ErrorCode.timeout, `${label}: no answer to ${request.method} in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      calls.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      const message: ToServerProcess = { type: 'call', id, ...request };
      child.send(message, (error) => {
        if (error && calls.delete(id)) {
          clearTimeout(timer);
          reject(new TidingsError(ErrorCode.internal, `${label}: ${error.message}`));
        }
      });
    });

  const signal = async (name: NodeJS.Signals, graceMs?: number) => {
    if (!alive) return;
    child.kill(name);
    const timer = graceMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const origin = `http://127.0.0.1:${port}`;
  return {
    label,
    pid: child.pid!,
    port,
    origin,
    url: origin + DEFAULT_MOUNT_PATH,
    get alive() {
      return alive;
    },
    exited,
    output: () => tail,
    publish: (channel, data, publishOptions) =>
      call({ method: 'publish', args: [channel, data, publishOptions] }),
    setState: (channel, data) => call({ method: 'setState', args: [channel, data] }),
    position: (channel) => call({ method: 'position', args: [channel] }),
    stats: () => call({ method: 'stats', args: [] }),
    load: (load, timeoutMs = (load.seconds + 30) * 1_000) =>
      call({ method: 'load', args: [load] }, timeoutMs),
    credit(delivered) {
      if (alive && child.connected) child.send({ type: 'credit', delivered } satisfies ToServerProcess);
    },
    kill: () => signal('SIGKILL'),
    stop: (graceMs = 10_000) => signal('SIGTERM', graceMs),
  };
}

/** Starts `count` server processes on one engine, in parallel. If one fails, the others are killed. */
export async function startServerProcesses(
  count: number,
  options: ServerProcessOptions,
): Promise<ServerProcess[]> {
  const starting = Array.from({ length: count }, (_, i) =>
    startServerProcess({ ...options, label: options.label ? `${options.label}-${i}` : undefined }),
  );
  const settled = await Promise.allSettled(starting);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value);
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.kill() : undefined)));
  throw failed.reason;
}
