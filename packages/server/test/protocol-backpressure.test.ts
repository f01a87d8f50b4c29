import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerFrame } from '@tidings/protocol';
import { createHub, type Hub, MemoryEngine } from '@tidings/server';
import { listen, startServerProcess } from '@tidings/testing';
import WebSocket from 'ws';
import { getJson, offsets, range, StreamClient, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };
type Frame = ServerFrame & Record<string, unknown>;

/** What finding 1 of issue 12 used: 60 KiB messages, far more history than the 4 MiB send-buffer bound. */
const PAD = 'x'.repeat(60 * 1024);
const HISTORY = 300;
/** The grace a non-reading connection gets (cut 5-10 s after it stopped reading, then 2 s to take its goodbye), with slack. */
const CUT_WITHIN_MS = 10_000 + 2_000 + 3_000;

async function fatServer(t: T) {
  const hub = createHub({ defaultHistory: { size: 1_000 }, onError: () => {} });
  const srv = await listen({ hub });
  t.after(srv.close);
  await publishFat(hub, 'fat', HISTORY);
  return srv;
}

async function publishFat(hub: Hub, channel: string, count: number, from = 1): Promise<void> {
  for (let n = from; n < from + count; n++) await hub.publish(channel, { n, pad: PAD });
}

/** A GET whose response is never read: the socket is paused before anything arrives. */
function nonReadingGet(url: string): Promise<Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.pause();
      socket.write(`GET ${pathname}${search} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

function noDisconnect(frames: Frame[]): void {
  const disconnect = frames.find((f) => f.type === 'disconnect');
  assert.equal(disconnect, undefined, `disconnected: ${JSON.stringify(disconnect)}`);
}

describe('backpressure: catch-up', () => {
  test('history is read from the engine in pages of about 256 KiB, on every transport', async (t) => {
    // What a Redis or NATS engine sends over the wire for one read: 1,000 × 60 KiB at once before.
    const engine = new MemoryEngine();
    let largest = 0;
    const read = engine.read.bind(engine);
    engine.read = async (channel, after, limit) => {
      const result = await read(channel, after, limit);
      const bytes = result.messages.reduce((sum, m) => sum + m.data.length, 0);
      largest = Math.max(largest, bytes);
      return result;
    };
    const hub = createHub({ engine, defaultHistory: { size: 1_000 }, onError: () => {} });
    const srv = await listen({ hub });
    t.after(srv.close);
    await publishFat(hub, 'fat', 100);
    const ws = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => ws.close());
    ws.send({ type: 'subscribe', id: 1, channel: 'fat', since: 'snapshot' });
    const sse = await StreamClient.open(`${srv.url}/sse?channel=fat&since=snapshot`, 'sse');
    t.after(() => sse.abort());
    const poll = await getJson(`${srv.url}/poll?channel=fat&since=snapshot`);
    await ws.waitForOffset('fat', 100);
    await sse.waitForOffset('fat', 100);
    assert.ok(offsets(poll.body.frames, 'fat').length > 0);
    assert.ok(largest <= 320 * 1024, `one read returned ${(largest / 1024).toFixed(0)} KiB`);
  });

  for (const kind of ['websocket', 'sse', 'stream'] as const) {
    test(`${kind}: a reading client catches up ${HISTORY} × 60 KiB, with live messages during it, each once and in order`, async (t) => {
      const srv = await fatServer(t);
      const total = HISTORY + 30;
      let frames: Frame[];
      let waitFor: (offset: number) => Promise<void>;
      if (kind === 'websocket') {
        const ws = await WsClient.open(`${srv.wsUrl}/ws`);
        t.after(() => ws.close());
        ws.send({ type: 'subscribe', id: 1, channel: 'fat', since: 'snapshot' });
        frames = ws.frames;
        waitFor = (offset) => ws.waitForOffset('fat', offset);
      } else {
        const client = await StreamClient.open(`${srv.url}/${kind}?channel=fat&since=snapshot`, kind);
        t.after(() => client.abort());
        frames = client.frames;
        waitFor = (offset) => client.waitForOffset('fat', offset);
      }
      // Live messages while the catch-up is under way.
      await waitFor(10);
      await publishFat(srv.hub, 'fat', total - HISTORY, HISTORY + 1);
      await waitFor(total);
      await sleep(50);
      noDisconnect(frames);
      assert.deepEqual(offsets(frames, 'fat'), range(1, total));
    });
  }

  test('a catch-up through several poll answers: each bounded by maxBufferedBytes, with the cursor to continue, losing nothing', async (t) => {
    const srv = await fatServer(t);
    const bound = 4 * 1024 * 1024 + 64 * 1024;
    const seen: number[] = [];
    let query = 'since=snapshot';
    let answers = 0;
    while (seen.at(-1) !== HISTORY) {
      const response = await fetch(`${srv.url}/poll?channel=fat&${query}`);
      const text = await response.text();
      answers++;
      assert.ok(text.length <= bound, `answer ${answers} is ${text.length} bytes`);
      const body = JSON.parse(text) as { frames: Frame[]; cursor: string };
      seen.push(...offsets(body.frames, 'fat'));
      query = `cursor=${encodeURIComponent(body.cursor)}`;
      assert.ok(answers < 20, 'no progress');
    }
    assert.ok(answers >= 4, `${answers} answers for ${HISTORY} × 60 KiB`);
    assert.deepEqual(seen, range(1, HISTORY));
    const last = await getJson(`${srv.url}/poll?channel=fat&${query}`);
    assert.deepEqual(offsets(last.body.frames, 'fat'), []);
  });
});

describe('backpressure: slow consumers are cut on every transport', () => {
  test('non-reading SSE and stream consumers of history are disconnected and their sockets closed', async (t) => {
    const srv = await fatServer(t);
    const serverSockets: Socket[] = [];
    srv.server.on('connection', (socket) => serverSockets.push(socket));
    const clients = await Promise.all([
      nonReadingGet(`${srv.url}/sse?channel=fat&since=snapshot`),
      nonReadingGet(`${srv.url}/stream?channel=fat&since=snapshot`),
    ]);
    t.after(() => {
      for (const client of clients) client.destroy();
    });
    await until(() => serverSockets.length === 2, 'both connected');
    const deadline = Date.now() + CUT_WITHIN_MS;
    while (serverSockets.some((s) => !s.destroyed)) {
      assert.ok(Date.now() < deadline, `still connected after ${CUT_WITHIN_MS} ms`);
      await sleep(50);
    }
    // The server forgets them on the responses' 'close', right after the sockets go.
    await until(() => {
      const stats = srv.tidings.stats().connections;
      return (stats.sse ?? 0) === 0 && (stats.stream ?? 0) === 0;
    }, 'the server forgot them');
  });

  test('a poll client that does not take its answer is cut', async (t) => {
    // An answer larger than what the kernel's socket buffers take (they hold a 4 MiB one whole here).
    const hub = createHub({ defaultHistory: { size: 1_000 }, onError: () => {} });
    const srv = await listen({ hub, limits: { maxBufferedBytes: 16 * 1024 * 1024 } });
    t.after(srv.close);
    await publishFat(hub, 'fat', HISTORY);
    const serverSockets: Socket[] = [];
    srv.server.on('connection', (socket) => serverSockets.push(socket));
    const client = await nonReadingGet(`${srv.url}/poll?channel=fat&since=snapshot`);
    t.after(() => client.destroy());
    await until(() => serverSockets.length === 1, 'connected');
    const deadline = Date.now() + CUT_WITHIN_MS;
    while (!serverSockets[0].destroyed) {
      assert.ok(Date.now() < deadline, `still connected after ${CUT_WITHIN_MS} ms`);
      await sleep(50);
    }
  });

  test('non-reading SSE and stream consumers of a live flood are disconnected and their sockets closed', async (t) => {
    const hub = createHub({ onError: () => {} });
    const srv = await listen({ hub });
    t.after(srv.close);
    const serverSockets: Socket[] = [];
    srv.server.on('connection', (socket) => serverSockets.push(socket));
    const clients = await Promise.all([
      nonReadingGet(`${srv.url}/sse?channel=flood`),
      nonReadingGet(`${srv.url}/stream?channel=flood`),
    ]);
    t.after(() => {
      for (const client of clients) client.destroy();
    });
    await until(() => hub.subscriberCount('flood') === 2, 'both subscribed');
    const deadline = Date.now() + 20_000;
    let n = 0;
    while (serverSockets.some((s) => !s.destroyed)) {
      assert.ok(Date.now() < deadline, `still connected after ${n} messages`);
      if (hub.subscriberCount('flood') > 0) await publishFat(hub, 'flood', 10, n + 1);
      n += 10;
      await sleep(5);
    }
  });

  test('WebSocket history subscribers that do not read cost the server a bounded amount of memory, then are cut', async (t) => {
    const child = await startServerProcess({ engine: { kind: 'memory' }, history: { size: 1_000 } });
    t.after(() => child.kill());
    for (let n = 1; n <= 200; n++) await child.publish('fat', { n, pad: PAD });
    const sockets: WebSocket[] = [];
    t.after(() => {
      for (const ws of sockets) ws.terminate();
    });
    const before = (await child.stats()).rss;
    const clients = 20;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${child.port}/tidings/ws`);
        sockets.push(ws);
        ws.on('error', () => {});
        await new Promise((resolve) => ws.once('open', resolve));
        (ws as unknown as { _socket: Socket })._socket.pause();
        ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'fat', since: 'snapshot' }));
      }),
    );
    // The peak while the catch-ups stand still (before the grace cuts them).
    let peak = before;
    for (let i = 0; i < 15; i++) {
      await sleep(200);
      peak = Math.max(peak, (await child.stats()).rss);
    }
    const growth = (peak - before) / 2 ** 20;
    t.diagnostic(`server RSS ${(before / 2 ** 20).toFixed(0)} MiB, +${growth.toFixed(0)} MiB at the peak`);
    // Before paced catch-up: ~12 MiB of history written into each connection at once (≈ +450 MiB here).
    assert.ok(growth < 100, `RSS grew by ${growth.toFixed(0)} MiB for ${clients} non-reading subscribers`);
    // And they are cut after the grace, their memory released.
    const deadline = Date.now() + CUT_WITHIN_MS;
    while (((await child.stats()).connections.websocket ?? 0) > 0) {
      assert.ok(Date.now() < deadline, `still connected after ${CUT_WITHIN_MS} ms`);
      await sleep(100);
    }
  });
});
