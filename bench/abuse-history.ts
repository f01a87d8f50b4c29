// Issue 12, finding 1: memory amplification through history, and honest clients catching up.
//
//   npx tsx bench/abuse-history.ts [--engine memory|redis|nats] [--subs 200] [--retained 100]
//                                  [--catchup 1000] [--kb 60] [--transports websocket,sse,stream]
//
// 1. A server process (its own RSS) holds `--retained` messages of `--kb` KiB in one channel; `--subs`
//    WebSocket clients each send `subscribe … since: "snapshot"` and never read. Prints the server's RSS
//    before, its peak over the next 4 s, and how many of them the server had cut 10 s later.
// 2. A fresh server holds `--catchup` messages of `--kb` KiB; one reading client per transport subscribes
//    from the snapshot. Prints the catch-up time, and whether it was dropped (SLOW_CONSUMER) or got every
//    message once, in order.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type EngineConfig, type ServerProcess, startServerProcess } from '@tidings/testing';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'memory' },
    subs: { type: 'string', default: '200' },
    retained: { type: 'string', default: '100' },
    catchup: { type: 'string', default: '1000' },
    kb: { type: 'string', default: '60' },
    transports: { type: 'string', default: 'websocket,sse,stream' },
  },
});
const subs = Number(values.subs);
const retained = Number(values.retained);
const catchup = Number(values.catchup);
const pad = 'x'.repeat(Number(values.kb) * 1024);
const MiB = 2 ** 20;

function engineConfig(): EngineConfig {
  const id = randomUUID().slice(0, 8);
  switch (values.engine) {
    case 'redis':
      return { kind: 'redis', prefix: `abuse-${id}:` };
    case 'nats':
      return { kind: 'nats', stream: `ABUSE_${id}`, subjectPrefix: `abuse${id}` };
    default:
      return { kind: 'memory' };
  }
}

async function server(size: number): Promise<ServerProcess> {
  return startServerProcess({
    engine: engineConfig(),
    history: { size, ttlMs: 600_000 },
    publishRate: 100_000,
  });
}

async function fill(child: ServerProcess, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) await child.publish('fat', { n, pad });
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

async function nonReaders(): Promise<void> {
  const child = await server(Math.max(retained, 1));
  try {
    await fill(child, retained);
    await sleep(500);
    const before = (await child.stats()).rss;
    const sockets: WebSocket[] = [];
    for (let i = 0; i < subs; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, subs - i) }, async () => {
          const ws = new WebSocket(`ws://127.0.0.1:${child.port}/tidings/ws`);
          sockets.push(ws);
          ws.on('error', () => {});
          await new Promise((resolve) => ws.once('open', resolve));
          (ws as unknown as { _socket: Socket })._socket.pause();
          ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'fat', since: 'snapshot' }));
        }),
      );
    }
    let peak = before;
    for (let i = 0; i < 20; i++) {
      await sleep(200);
      peak = Math.max(peak, (await child.stats()).rss);
    }
    await sleep(6_000);
    const after = await child.stats();
    console.log(
      `non-readers  engine=${values.engine} subs=${subs} history=${retained}×${values.kb} KiB: ` +
        `server RSS ${mib(before)} → peak ${mib(peak)} (+${mib(peak - before)}); ` +
        `10 s later ${after.connections.websocket ?? 0} of ${subs} still connected, RSS ${mib(after.rss)}`,
    );
    for (const ws of sockets) ws.terminate();
  } finally {
    await child.kill();
  }
}

interface CatchUp {
  ms: number;
  received: number;
  inOrder: boolean;
  dropped: string | undefined;
}

/** One reading client subscribes from the snapshot and takes every frame as it comes. */
async function catchUp(child: ServerProcess, transport: string): Promise<CatchUp> {
  const started = performance.now();
  let ended = started;
  let received = 0;
  let inOrder = true;
  let dropped: string | undefined;
  // Done once dropped, or 500 ms after the last message (a `disconnect` right behind it counts too).
  const settle = new AbortController();
  const onFrame = (frame: { type: string; offset?: number; code?: string }): boolean => {
    if (frame.type === 'message') {
      if (frame.offset !== received + 1) inOrder = false;
      received++;
      if (received === catchup) {
        ended = performance.now();
        setTimeout(() => settle.abort(), 500);
      }
    } else if (frame.type === 'disconnect') dropped = frame.code;
    return dropped !== undefined || settle.signal.aborted;
  };
  const deadline = AbortSignal.any([AbortSignal.timeout(120_000), settle.signal]);
  if (transport === 'websocket') {
    const ws = new WebSocket(`ws://127.0.0.1:${child.port}/tidings/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'fat', since: 'snapshot' })));
      ws.on('message', (data) => {
        if (onFrame(JSON.parse(String(data)))) resolve();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
      deadline.addEventListener('abort', () => resolve());
    });
    ws.terminate();
  } else {
    const controller = new AbortController();
    deadline.addEventListener('abort', () => controller.abort());
    const response = await fetch(`${child.url}/${transport}?channel=fat&since=snapshot`, {
      signal: controller.signal,
    });
    const decoder = new TextDecoder();
    let buffer = '';
    const separator = transport === 'sse' ? '\n\n' : '\n';
    try {
      read: for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let at = buffer.indexOf(separator); at >= 0; at = buffer.indexOf(separator)) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + separator.length);
          const data = transport === 'sse' ? block.split('\n').find((l) => l.startsWith('data: ')) : block;
          if (data === undefined) continue;
          if (onFrame(JSON.parse(transport === 'sse' ? data.slice(6) : data))) break read;
        }
      }
    } catch {
      // aborted
    }
    controller.abort();
  }
  if (received < catchup) ended = performance.now();
  return { ms: ended - started, received, inOrder, dropped };
}

async function readers(): Promise<void> {
  const child = await server(catchup);
  try {
    await fill(child, catchup);
    for (const transport of values.transports.split(',')) {
      const result = await catchUp(child, transport);
      const outcome =
        result.dropped !== undefined
          ? `dropped ${result.dropped} after ${result.received} messages`
          : `${result.received} messages${result.inOrder ? ', each once in order' : ', OUT OF ORDER'}`;
      console.log(
        `catch-up     engine=${values.engine} ${transport} ${catchup}×${values.kb} KiB: ` +
          `${result.ms.toFixed(0)} ms, ${outcome}`,
      );
    }
  } finally {
    await child.kill();
  }
}

if (subs > 0) await nonReaders();
if (catchup > 0) await readers();
