import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Every child this process started, so an exit, a timeout or Ctrl-C never leaves one behind. */
const live = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

interface Waiter {
  types: string[];
  resolve: (message: never) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A bench process (server or load) spoken to over the fork IPC channel: typed requests that wait for a
 * reply of a given type, with a timeout, and that fail at once if the child dies or reports `failed`.
 */
export class Child<In extends { type: string }, Out extends { type: string }> {
  private readonly process: ChildProcess;
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Map<string, (message: Out) => void>();
  private exitError: Error | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    script: URL,
    nodeArgs: readonly string[] = [],
  ) {
    this.process = fork(fileURLToPath(script), [], {
      execArgv: ['--conditions=@tidings/source', '--import', tsxLoader(), '--expose-gc', ...nodeArgs],
      // Children report over IPC only; anything they print goes to stderr, keeping stdout for results.
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    live.add(this.process);
    this.process.on('message', (message: Out) => this.dispatch(message));
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        live.delete(this.process);
        this.fail(new Error(`${label} process exited (${signal ?? `code ${code}`})`));
        resolve();
      });
    });
    this.process.on('error', (error) => this.fail(error));
  }

  send(message: In): void {
    if (this.process.connected) this.process.send(message);
  }

  on<T extends Out['type']>(type: T, listener: (message: Extract<Out, { type: T }>) => void): void {
    this.listeners.set(type, listener as (message: Out) => void);
  }

  /** Sends `message` (if any) and waits for the first reply of one of `types`. */
  request<T extends Out['type']>(
    message: In | null,
    types: T | T[],
    timeoutMs: number,
  ): Promise<Extract<Out, { type: T }>> {
    const wanted = Array.isArray(types) ? types : [types];
    return new Promise((resolve, reject) => {
      if (this.exitError) {
        reject(this.exitError);
        return;
      }
      const waiter: Waiter = {
        types: wanted,
        resolve: resolve as (message: never) => void,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`${this.label}: no ${wanted.join('/')} within ${Math.round(timeoutMs)} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      if (message) this.send(message);
    });
  }

  /** Asks the child to close, then kills it if it has not exited after `graceMs`. */
  async close(message: In, graceMs = 3_000): Promise<void> {
    this.send(message);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.process.kill('SIGKILL');
  }

  private dispatch(message: Out): void {
    if (message.type === 'failed') {
      this.fail(new Error(`${this.label}: ${(message as unknown as { reason: string }).reason}`));
      return;
    }
    for (const waiter of this.waiters) {
      if (waiter.types.includes(message.type)) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(message as never);
        return;
      }
    }
    this.listeners.get(message.type)?.(message);
  }

  private fail(error: Error): void {
    this.exitError ??= error;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters.clear();
  }
}
