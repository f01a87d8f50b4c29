// Raw-protocol clients for the protocol tests: a bare `ws` socket and plain fetch, no Tidings client,
// so the tests see exactly what is on the wire.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerFrame } from '@tidings/protocol';
import { WebSocket } from 'ws';

const TIMEOUT_MS = 5_000;

type Frame = ServerFrame & Record<string, unknown>;
type Predicate = (frame: Frame) => boolean;

/** Waits until `read()` holds a frame matching `predicate`, starting at index `from`. */
async function waitIn(read: () => Frame[], predicate: Predicate, what: string, from = 0): Promise<Frame> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const frames = read();
    for (let i = from; i < frames.length; i++) if (predicate(frames[i])) return frames[i];
    if (Date.now() > deadline) {
      assert.fail(`no frame ${what} within ${TIMEOUT_MS} ms; got ${JSON.stringify(frames.slice(-5))}`);
    }
    await sleep(2);
  }
}

export function isMessage(channel: string): Predicate {
  return (f) => f.type === 'message' && f.channel === channel;
}

/** The offsets of a channel's `message` frames, in the order received. */
export function offsets(frames: Frame[], channel: string): number[] {
  return frames.filter(isMessage(channel)).map((f) => f.offset as number);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export class WsClient {
  readonly frames: Frame[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly #closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, options: { headers?: Record<string, string> } = {}) {
    this.socket = new WebSocket(url, { headers: options.headers, perMessageDeflate: false });
    this.socket.on('message', (data) => this.frames.push(JSON.parse(data.toString()) as Frame));
    this.socket.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.#closed = new Promise((resolve) =>
      this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Resolves with the close code and reason once the connection is closed; fails the test after a while. */
  get closed(): Promise<{ code: number; reason: string }> {
    const timeout = sleep(TIMEOUT_MS, undefined, { ref: false }).then(() =>
      assert.fail(`the connection did not close within ${TIMEOUT_MS} ms`),
    );
    return Promise.race([this.#closed, timeout]);
  }

  /** Connects and waits for the `welcome` frame. */
  static async open(url: string, options: { headers?: Record<string, string> } = {}): Promise<WsClient> {
    const client = new WsClient(url, options);
    await client.opened;
    await client.next((f) => f.type === 'welcome');
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  next(predicate: Predicate, what = 'matching', from = 0): Promise<Frame> {
    return waitIn(() => this.frames, predicate, what, from);
  }

  /** Sends a request with this `id` and waits for the reply (or error) with the same id. */
  async request(frame: Record<string, unknown> & { id: number }): Promise<Frame> {
    const from = this.frames.length;
    this.send(frame);
    return this.next((f) => (f as { id?: number }).id === frame.id, `with id ${frame.id}`, from);
  }

  async subscribe(channel: string, id: number, since?: unknown): Promise<Frame> {
    const reply = await this.request({ type: 'subscribe', id, channel, since });
    assert.equal(reply.type, 'subscribed', `subscribe ${channel}: ${JSON.stringify(reply)}`);
    return reply;
  }

  async waitForOffset(channel: string, offset: number): Promise<void> {
    await this.next((f) => isMessage(channel)(f) && (f.offset as number) >= offset, `${channel}@${offset}`);
  }

  close(): void {
    this.socket.terminate();
  }
}

/** A streaming GET (SSE or NDJSON) read with fetch; frames (and SSE ids) as they arrive. */
export class StreamClient {
  readonly frames: Frame[] = [];
  /** For SSE: the `id:` of each event, or undefined. */
  readonly ids: (string | undefined)[] = [];
  lastEventId: string | undefined;
  status = 0;
  headers: Headers | undefined;
  retry: number | undefined;
  ended = false;
  readonly done: Promise<void>;
  readonly #controller = new AbortController();
  #resolveHeaders!: () => void;
  readonly #headersIn = new Promise<void>((resolve) => {
    this.#resolveHeaders = resolve;
  });

  constructor(
    url: string,
    readonly kind: 'sse' | 'stream',
    headers: Record<string, string> = {},
  ) {
    this.done = this.#run(url, headers).catch(() => {
      this.#resolveHeaders();
    });
  }

  static async open(
    url: string,
    kind: 'sse' | 'stream',
    headers?: Record<string, string>,
  ): Promise<StreamClient> {
    const client = new StreamClient(url, kind, headers);
    await client.#headersIn;
    return client;
  }

  async #run(url: string, headers: Record<string, string>): Promise<void> {
    const response = await fetch(url, { headers, signal: this.#controller.signal });
    this.status = response.status;
    this.headers = response.headers;
    this.#resolveHeaders();
    if (response.status !== 200) {
      this.frames.push((await response.json()) as Frame);
      this.ended = true;
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const separator = this.kind === 'sse' ? '\n\n' : '\n';
      for (let at = buffer.indexOf(separator); at >= 0; at = buffer.indexOf(separator)) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + separator.length);
        if (this.kind === 'stream') this.frames.push(JSON.parse(block) as Frame);
        else this.#event(block);
      }
    }
    this.ended = true;
  }

  #event(block: string): void {
    let id: string | undefined;
    let data: string | undefined;
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'data') data = value;
      else if (field === 'retry') this.retry = Number(value);
    }
    if (id !== undefined) this.lastEventId = id;
    if (data !== undefined) {
      this.frames.push(JSON.parse(data) as Frame);
      this.ids.push(id);
    }
  }

  next(predicate: Predicate, what = 'matching', from = 0): Promise<Frame> {
    return waitIn(() => this.frames, predicate, what, from);
  }

  async waitForOffset(channel: string, offset: number): Promise<void> {
    await this.next((f) => isMessage(channel)(f) && (f.offset as number) >= offset, `${channel}@${offset}`);
  }

  async waitEnded(): Promise<void> {
    const timeout = sleep(TIMEOUT_MS, undefined, { ref: false }).then(() =>
      assert.fail('stream did not end'),
    );
    await Promise.race([this.done, timeout]);
    assert.ok(this.ended, 'the stream ended cleanly');
  }

  abort(): void {
    this.#controller.abort();
  }
}

export interface PollAnswer {
  status: number;
  body: { frames: Frame[]; cursor: string } & Frame;
  headers: Headers;
}

export async function getJson(url: string, init?: RequestInit): Promise<PollAnswer> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

export async function publishHttp(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<PollAnswer> {
  return getJson(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Cursor text from `message`/`subscribed`/`reset` frames received, per channel: the last position seen. */
export function cursorOf(frames: Frame[]): string {
  const positions = new Map<string, string>();
  for (const f of frames) {
    if (
      (f.type === 'message' || f.type === 'snapshot' || f.type === 'reset' || f.type === 'subscribed') &&
      typeof f.epoch === 'string'
    ) {
      positions.set(f.channel as string, `${f.epoch}:${f.offset}`);
    }
  }
  return [...positions].map(([channel, position]) => `${channel}=${position}`).join(',');
}

/** Publishes `{ n }` messages one by one, letting I/O through every few, so clients read mid-stream. */
export async function publishMany(
  hub: { publish(channel: string, data: unknown): Promise<unknown> },
  channel: string,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await hub.publish(channel, { n: i });
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Polls until `predicate` holds. */
export async function until(predicate: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what} not met within ${TIMEOUT_MS} ms`);
    await sleep(2);
  }
}
