import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, type ServerFrame } from '@tidings/protocol';
import { createHub, type TidingsServerOptions } from '@tidings/server';
import { type Listening, listen } from '@tidings/testing';
import { offsets, range, until } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };
type Frame = ServerFrame & Record<string, unknown>;
type Kind = 'websocket' | 'stream';

const KINDS: Kind[] = ['websocket', 'stream'];

async function server(t: T, options: TidingsServerOptions): Promise<Listening> {
  const srv = await listen({ heartbeatMs: 60_000, ...options });
  t.after(srv.close);
  return srv;
}

/**
 * A subscriber on a bare TCP socket, so the test sees the server's writes as the client's reads: each
 * `data` event is one read, and one write of a few KiB on loopback arrives as one read. Frames are
 * parsed from the wire (unmasked WebSocket frames, or NDJSON in HTTP chunks).
 */
class Wire {
  /** When each read arrived (performance.now()) and how many bytes it held. */
  readonly reads: { at: number; bytes: number }[] = [];
  readonly frames: Frame[] = [];
  /** The socket closed, or (stream) the response is complete. */
  ended = false;
  #buffer = Buffer.alloc(0);
  #body = '';
  #inBody = false;

  private constructor(
    readonly kind: Kind,
    readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('close', () => {
      this.ended = true;
    });
    socket.on('error', () => {});
  }

  static async open(t: T, srv: Listening, kind: Kind, channel: string, since?: string): Promise<Wire> {
    const wire =
      kind === 'websocket'
        ? await Wire.#websocket(srv, channel, since)
        : await Wire.#stream(srv, channel, since);
    t.after(() => wire.socket.destroy());
    await until(() => wire.frames.some((f) => f.type === 'subscribed'), 'subscribed');
    return wire;
  }

  static async #websocket(srv: Listening, channel: string, since?: string): Promise<Wire> {
    const { socket, head } = await new Promise<{ socket: Socket; head: Buffer }>((resolve, reject) => {
      request({
        port: srv.port,
        host: '127.0.0.1',
        path: '/tidings/ws',
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': randomBytes(16).toString('base64'),
          'sec-websocket-version': '13',
        },
      })
        .on('upgrade', (_, socket, head) => resolve({ socket, head }))
        .on('error', reject)
        .end();
    });
    const wire = new Wire('websocket', socket);
    if (head.length > 0) wire.#read(head);
    socket.write(maskedText(JSON.stringify({ type: 'subscribe', id: 1, channel, since })));
    return wire;
  }

  static async #stream(srv: Listening, channel: string, since?: string): Promise<Wire> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(srv.port, '127.0.0.1', () => resolve(socket)).on('error', reject);
    });
    const query = `channel=${channel}${since === undefined ? '' : `&since=${since}`}`;
    socket.write(`GET /tidings/stream?${query} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
    return new Wire('stream', socket);
  }

  #read(chunk: Buffer): void {
    this.reads.push({ at: performance.now(), bytes: chunk.length });
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.kind === 'websocket') this.#websocketFrames();
    else this.#chunks();
  }

  #websocketFrames(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      let length = b[1] & 0x7f;
      let header = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        header = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        header = 10;
      }
      if (b.length < header + length) return;
      if ((b[0] & 0x0f) === 1) this.frames.push(JSON.parse(b.toString('utf8', header, header + length)));
      this.#buffer = b.subarray(header + length);
    }
  }

  /** HTTP/1.1 chunked transfer coding, each chunk's data appended to the NDJSON body. */
  #chunks(): void {
    if (!this.#inBody) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.#buffer = this.#buffer.subarray(end + 4);
      this.#inBody = true;
    }
    for (;;) {
      const line = this.#buffer.indexOf('\r\n');
      if (line < 0) return;
      const size = Number.parseInt(this.#buffer.toString('latin1', 0, line), 16);
      // The last chunk: the response is complete (the socket stays open for another request).
      if (size === 0) this.ended = true;
      if (this.#buffer.length < line + 2 + size + 2) return;
      this.#body += this.#buffer.toString('utf8', line + 2, line + 2 + size);
      this.#buffer = this.#buffer.subarray(line + 2 + size + 2);
      for (let at = this.#body.indexOf('\n'); at >= 0; at = this.#body.indexOf('\n')) {
        this.frames.push(JSON.parse(this.#body.slice(0, at)));
        this.#body = this.#body.slice(at + 1);
      }
    }
  }

  /** Reads since `from` (an index into `reads`). */
  readsSince(from: number): number {
    return this.reads.length - from;
  }

  async waitForOffset(channel: string, offset: number, what = `${channel}@${offset}`): Promise<void> {
    await until(
      () => this.frames.some((f) => f.type === 'message' && f.channel === channel && f.offset === offset),
      what,
    );
  }
}

/** A client-to-server WebSocket text frame (masked, as RFC 6455 requires), payload under 126 bytes. */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
  return frame;
}

/** Publishes `{ n }` for n in 1..count, each in an event-loop turn of its own. */
async function publishOnePerTurn(srv: Listening, channel: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) {
    await srv.hub.publish(channel, { n });
    await nextTurn();
  }
}

for (const kind of KINDS) {
  describe(`write delay (${kind})`, () => {
    test('frames within the delay arrive in order, exactly once: the first at once, the rest in one write when the delay is up', async (t) => {
      const srv = await server(t, { writeDelayMs: 200 });
      const wire = await Wire.open(t, srv, kind, 'chat');
      await sleep(500); // quiet for longer than two delays: the next frame is not held
      const from = wire.reads.length;
      const started = performance.now();
      await publishOnePerTurn(srv, 'chat', 10);
      await wire.waitForOffset('chat', 10);
      assert.deepEqual(offsets(wire.frames, 'chat'), range(1, 10));
      assert.equal(wire.readsSince(from), 2, `10 frames in ${wire.readsSince(from)} reads`);
      const first = wire.reads[from].at - started;
      const rest = wire.reads[from + 1].at - started;
      assert.ok(first < 100, `the first frame came after ${first.toFixed(0)} ms`);
      assert.ok(rest >= 150, `the others came after ${rest.toFixed(0)} ms, not held for the delay`);
    });

    test('a steady stream is written about once per delay', async (t) => {
      const srv = await server(t, { writeDelayMs: 100 });
      const wire = await Wire.open(t, srv, kind, 'chat');
      await sleep(300);
      const from = wire.reads.length;
      // 30 messages over ~600 ms: one write per message without the delay, about 7 with it.
      for (let n = 1; n <= 30; n++) {
        await srv.hub.publish('chat', { n });
        await sleep(20);
      }
      await wire.waitForOffset('chat', 30);
      assert.deepEqual(offsets(wire.frames, 'chat'), range(1, 30));
      assert.ok(wire.readsSince(from) <= 12, `30 frames in ${wire.readsSince(from)} reads`);
    });

    test('delay 0: the frames of one turn share a write, a later turn writes its own', async (t) => {
      const srv = await server(t, { writeDelayMs: 0 });
      const wire = await Wire.open(t, srv, kind, 'chat');
      await sleep(50);
      let from = wire.reads.length;
      await Promise.all(range(1, 5).map((n) => srv.hub.publish('chat', { n })));
      await wire.waitForOffset('chat', 5);
      assert.equal(wire.readsSince(from), 1, 'five frames of one turn in one write');
      from = wire.reads.length;
      for (let n = 6; n <= 10; n++) {
        await srv.hub.publish('chat', { n });
        await sleep(20);
      }
      await wire.waitForOffset('chat', 10);
      assert.deepEqual(offsets(wire.frames, 'chat'), range(1, 10));
      // One write each; a busy client may read two together now and then.
      assert.ok(wire.readsSince(from) >= 3, `five turns' frames in ${wire.readsSince(from)} reads`);
    });

    test('a burst past 64 KiB is written at once, not held for the delay', async (t) => {
      const srv = await server(t, { writeDelayMs: 1_000 });
      const wire = await Wire.open(t, srv, kind, 'burst');
      await sleep(2_100);
      await srv.hub.publish('burst', { n: 1 });
      await wire.waitForOffset('burst', 1);
      // Wrote just now: what comes within the delay is held, up to 64 KiB.
      const pad = 'x'.repeat(10 * 1024);
      const started = performance.now();
      for (let n = 2; n <= 11; n++) await srv.hub.publish('burst', { n, pad });
      // The first 64 KiB (six or seven frames) leave at once; the rest when the delay is up.
      await wire.waitForOffset('burst', 7);
      const took = performance.now() - started;
      assert.ok(took < 600, `the first 64 KiB took ${took.toFixed(0)} ms`);
      await wire.waitForOffset('burst', 11);
      assert.deepEqual(offsets(wire.frames, 'burst'), range(1, 11));
    });

    test('a disconnect is not held: the frames before it, then it, at once', async (t) => {
      const srv = await server(t, { writeDelayMs: 1_000 });
      const wire = await Wire.open(t, srv, kind, 'chat');
      await sleep(2_100);
      await publishOnePerTurn(srv, 'chat', 3); // the first at once, the others held
      await wire.waitForOffset('chat', 1);
      const started = performance.now();
      assert.equal(srv.tidings.disconnect('anonymous', { code: ErrorCode.forbidden }), 1);
      await until(() => wire.frames.some((f) => f.type === 'disconnect'), 'disconnect');
      const took = performance.now() - started;
      assert.ok(took < 500, `disconnect after ${took.toFixed(0)} ms`);
      const types = wire.frames.slice(-4).map((f) => (f.type === 'message' ? f.offset : f.type));
      assert.deepEqual(types, [1, 2, 3, 'disconnect']);
      await until(() => wire.ended, 'closed');
    });

    test('a catch-up is not slowed by the delay: what it has to wait for has already left', async (t) => {
      const hub = createHub({ defaultHistory: { size: 1_000 }, onError: () => {} });
      const pad = 'x'.repeat(60 * 1024);
      for (let n = 1; n <= 100; n++) await hub.publish('fat', { n, pad });
      const srv = await server(t, { hub, writeDelayMs: 1_000 });
      const started = performance.now();
      // ~6 MiB, paced in 256 KiB steps: held for the delay at each, that would take 20 s or more.
      const wire = await Wire.open(t, srv, kind, 'fat', 'snapshot');
      await wire.waitForOffset('fat', 100);
      assert.deepEqual(offsets(wire.frames, 'fat'), range(1, 100));
      const took = performance.now() - started;
      assert.ok(took < 5_000, `catch-up of 100 × 60 KiB took ${took.toFixed(0)} ms`);
    });

    test('a client that stops reading live messages is still cut as a slow consumer', async (t) => {
      const hub = createHub({ onError: () => {} });
      const srv = await server(t, { hub, writeDelayMs: 20, limits: { maxBufferedBytes: 256 * 1024 } });
      const serverSockets: Socket[] = [];
      srv.server.on('connection', (socket) => serverSockets.push(socket));
      const wire = await Wire.open(t, srv, kind, 'flood');
      wire.socket.pause();
      const pad = 'x'.repeat(8 * 1024);
      const deadline = Date.now() + 20_000;
      let n = 0;
      while (serverSockets.some((s) => !s.destroyed)) {
        assert.ok(Date.now() < deadline, `still connected after ${n} messages`);
        if (hub.subscriberCount('flood') > 0)
          for (let i = 0; i < 10; i++) await hub.publish('flood', { n: ++n, pad });
        await sleep(5);
      }
    });
  });
}

test('write delay (websocket): a request is answered at once, with what was held before the answer', async (t) => {
  const srv = await server(t, { writeDelayMs: 1_000 });
  const wire = await Wire.open(t, srv, 'websocket', 'chat');
  await sleep(2_100);
  await srv.hub.publish('chat', { n: 1 });
  await wire.waitForOffset('chat', 1);
  await srv.hub.publish('chat', { n: 2 }); // wrote just now: held for the delay
  await sleep(50);
  const started = performance.now();
  wire.socket.write(maskedText(JSON.stringify({ type: 'subscribe', id: 2, channel: 'other' })));
  await until(() => wire.frames.some((f) => f.type === 'subscribed' && f.id === 2), 'subscribed');
  const took = performance.now() - started;
  assert.ok(took < 500, `answered after ${took.toFixed(0)} ms`);
  const types = wire.frames.slice(-2).map((f) => (f.type === 'message' ? f.offset : f.type));
  assert.deepEqual(types, [2, 'subscribed']);
});

test('writeDelayMs must be between 0 and 1000', async () => {
  for (const writeDelayMs of [-1, 1_001, Number.NaN]) {
    await assert.rejects(
      listen({ writeDelayMs }),
      (error: { code?: string }) => error.code === ErrorCode.invalidField,
    );
  }
});
