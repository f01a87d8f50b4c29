import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { validateConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { createLogger } from '../src/logger.js';
import { type Standalone, type StandaloneOptions, startStandalone } from '../src/standalone.js';

// Shared by the standalone tests: the real `tidings` bin as a child process, the server in-process,
// and small readers for SSE and WebSocket frames.

export const BIN = fileURLToPath(new URL('../bin/tidings.js', import.meta.url));
/** The bin runs the TypeScript sources here, as the rest of the monorepo does (docs/CONTRIBUTING.md). */
const FROM_SOURCES = ['--conditions=@tidings/source', '--import', import.meta.resolve('tsx')];
export const API_KEY = 'test-api-key-0123456789-abcdefghijk';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export function uid(): string {
  return randomBytes(5).toString('hex');
}

/** The environment without any TIDINGS_* variable of the shell running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TIDINGS_')) env[name] = value;
  return { ...env, ...extra };
}

/** Writes a config file (an object as JSON, or raw text) into a temporary directory removed after the tests. */
export async function tempConfig(content: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-test-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'tidings.json');
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A fresh working directory for a spawned server, removed after the tests: the default engine keeps
 * its file in `./tidings-data`, and two servers in one directory would share (and be refused) one file.
 */
export function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidings-cwd-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `tidings <args>` to completion (check, or a serve that fails at once). */
export function runTidings(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
  cwd = workDir(),
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...FROM_SOURCES, BIN, ...args], {
      env: cleanEnv(env),
      stdio: 'pipe',
      cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`tidings ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Served {
  url: string;
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `tidings serve <args>` and resolves once it logs "listening". Stopped after the tests. `cwd`
 * (default: a fresh directory) is where the default engine keeps `./tidings-data`.
 */
export async function serve(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
  cwd = workDir(),
): Promise<Served> {
  const child = spawn(process.execPath, [...FROM_SOURCES, BIN, 'serve', ...args], {
    env: cleanEnv(env),
    stdio: 'pipe',
    cwd,
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "listening" within ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'listening') {
            clearTimeout(timer);
            resolve(entry.url as string);
          }
        } catch {
          // Not a log line.
        }
      }
    });
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`tidings exited with ${code} before listening: ${stderr}`));
    });
  });
  const stop = async (ms = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  after(() => stop());
  const url = await listening;
  return { url, child, logs, stderr: () => stderr, exited, stop };
}

/**
 * Starts the server in this process on 127.0.0.1, port 0, closed after the tests. Logs go to `logs`
 * (parsed) when given, else nowhere (TIDINGS_TEST_LOG=1: stdout).
 */
export async function startInProcess(
  config: ConfigInput = {},
  logs?: Record<string, unknown>[],
  options: Omit<StandaloneOptions, 'logger'> = {},
): Promise<Standalone> {
  const validated = validateConfig({
    host: '127.0.0.1',
    port: 0,
    apiKey: API_KEY,
    // The default engine, in a directory of this server's own.
    engine: { type: 'sqlite', dataDir: join(workDir(), 'data') },
    ...config,
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs?.push(JSON.parse(line));
      done();
    },
  });
  const logger =
    logs !== undefined
      ? createLogger('debug', sink)
      : createLogger(process.env.TIDINGS_TEST_LOG === '1' ? 'debug' : 'silent');
  const standalone = await startStandalone(validated, { ...options, logger });
  after(() => standalone.close());
  return standalone;
}

/** Calls the HTTP API: the JSON answer and its status. */
export async function api(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `apikey ${API_KEY}` },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/api${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

type Frame = Record<string, unknown> & { type: string };

/** Frames arriving from somewhere, awaited one condition at a time. */
class FrameQueue {
  readonly frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  ended = false;

  push(frame: Frame): void {
    this.frames.push(frame);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  end(): void {
    this.ended = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The first frame (from the start) that matches, waiting up to `timeoutMs` for it. */
  async next(match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended without the frame; got ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export interface SseStream extends FrameQueue {
  status: number;
  close(): void;
}

/** Opens `GET <url>` as an SSE stream (as `curl -N` would) and collects its frames. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const queue = new FrameQueue() as SseStream;
  queue.status = response.status;
  queue.close = () => controller.abort();
  after(() => controller.abort());
  if (response.status !== 200) {
    queue.push((await response.json()) as Frame);
    queue.end();
    return queue;
  }
  void (async () => {
    let text = '';
    try {
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
        let split = text.indexOf('\n\n');
        while (split >= 0) {
          const event = text.slice(0, split);
          text = text.slice(split + 2);
          split = text.indexOf('\n\n');
          for (const line of event.split('\n')) {
            if (line.startsWith('data: ')) queue.push(JSON.parse(line.slice(6)) as Frame);
          }
        }
      }
    } catch {
      // Aborted.
    }
    queue.end();
  })();
  return queue;
}

export interface WsClient extends FrameQueue {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  send(frame: Record<string, unknown>): void;
}

/** Connects a WebSocket client to `<base>/tidings/ws` and collects its frames. */
export async function openWs(base: string, query = ''): Promise<WsClient> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/tidings/ws${query}`);
  const queue = new FrameQueue() as WsClient;
  queue.ws = ws;
  queue.send = (frame) => ws.send(JSON.stringify(frame));
  queue.closed = new Promise((resolve) =>
    ws.on('close', (code, reason) => {
      queue.end();
      resolve({ code, reason: reason.toString() });
    }),
  );
  ws.on('message', (data) => queue.push(JSON.parse(data.toString()) as Frame));
  ws.on('error', () => undefined);
  after(() => ws.terminate());
  await queue.next((frame) => frame.type === 'welcome' || frame.type === 'disconnect');
  return queue;
}

/** One Redis command over a bare socket (the tests need no Redis client of their own). */
export function redisCommand(args: string[], port = 6379, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('Redis did not answer'));
    }, timeoutMs);
    let reply = '';
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(
      `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`,
    );
  });
}

export async function redisReachable(): Promise<boolean> {
  try {
    return (await redisCommand(['PING'])).startsWith('+PONG');
  } catch {
    return false;
  }
}

/** Deletes every key under a prefix (the tests' own, never anything else). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1";
  await redisCommand(['EVAL', script, '0', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`]);
}

/** A TCP port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
