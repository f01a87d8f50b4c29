// The child side of startServerProcess(): a Tidings server on 127.0.0.1, port 0, on the engine the
// parent configured (TIDINGS_SERVER_PROCESS, JSON), reporting its port and answering calls over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, isTidingsError } from '@tidings/protocol';
import type { Engine } from '@tidings/server';
import { createHub, createTidingsServer, type Hub, MemoryEngine } from '@tidings/server';
import type {
  EngineConfig,
  FromServerProcess,
  PublishLoad,
  PublishLoadResult,
  ServerProcessOptions,
  ToServerProcess,
} from './server-process.js';

const options = JSON.parse(process.env.TIDINGS_SERVER_PROCESS ?? '{}') as ServerProcessOptions;

function send(message: FromServerProcess): void {
  if (process.connected) process.send?.(message);
}

// Engines are imported only when asked for: a memory server needs neither ioredis nor nats.
async function createEngine(config: EngineConfig): Promise<Engine> {
  switch (config.kind) {
    case 'memory':
      return new MemoryEngine();
    case 'redis': {
      const { RedisEngine } = await import('@tidings/redis');
      return new RedisEngine({ url: config.url, prefix: config.prefix, presenceTtlMs: config.presenceTtlMs });
    }
    case 'nats': {
      const { NatsEngine } = await import('@tidings/nats');
      return new NatsEngine({
        servers: config.servers ?? '127.0.0.1:4222',
        stream: config.stream,
        subjectPrefix: config.subjectPrefix,
        storage: 'memory',
        presenceTtlMs: config.presenceTtlMs,
      });
    }
  }
}

/** Wall-clock ms with sub-ms resolution, comparable across the processes of one machine. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

let credit = 0;
let onCredit: (() => void) | undefined;

/**
 * Publishes `{ n, sent, pad }` numbered 1, 2, 3, … to one channel: at a fixed rate (exactly rate ×
 * seconds messages), or at rate 0 as fast as subscribers keep up, holding at most `window` deliveries
 * in flight (past that a faster publisher only measures how queues grow).
 */
function runLoad(hub: Hub, load: PublishLoad): Promise<PublishLoadResult> {
  const pad = 'x'.repeat(Math.max(0, (load.payloadBytes ?? 100) - 50));
  const total = load.rate > 0 ? Math.round(load.rate * load.seconds) : Number.POSITIVE_INFINITY;
  const fanOut = load.fanOut ?? 1;
  const window = load.window ?? 10_000;
  const acks: number[] = [];
  let n = 0;
  let pending = 0;
  let errors = 0;
  let firstError: string | undefined;
  let done = false;
  let waiting = false;
  const startedAt = now();
  const startMono = performance.now();
  credit = 0;
  return new Promise((resolve) => {
    const finish = () => {
      onCredit = undefined;
      acks.sort((a, b) => a - b);
      resolve({
        published: n - errors,
        errors,
        firstError,
        startedAt,
        endedAt: now(),
        ackP50: quantile(acks, 0.5),
        ackP99: quantile(acks, 0.99),
      });
    };
    const publishOne = () => {
      const sent = now();
      pending++;
      hub.publish(load.channel, { n: ++n, sent, pad }).then(
        () => {
          acks.push(now() - sent);
          pending--;
          if (done && pending === 0) finish();
        },
        (error: unknown) => {
          errors++;
          firstError ??= String((error as Error)?.message ?? error);
          pending--;
          if (done && pending === 0) finish();
        },
      );
    };
    const stop = () => {
      done = true;
      if (pending === 0) finish();
    };
    if (load.rate > 0) {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - startMono) * load.rate) / 1000) + 1);
        while (n < due) publishOne();
        if (n >= total) return stop();
        setTimeout(tick, Math.max(0, startMono + (n * 1000) / load.rate - performance.now()));
      };
      tick();
      return;
    }
    const pump = () => {
      waiting = false;
      if (done) return;
      // Bounded per turn so the sockets get written between bursts.
      for (let i = 0; i < 200 && n * fanOut - credit < window; i++) publishOne();
      if (n * fanOut - credit >= window) waiting = true;
      else setImmediate(pump);
    };
    onCredit = () => {
      if (waiting) setImmediate(pump);
    };
    setTimeout(stop, load.seconds * 1_000);
    pump();
  });
}

async function main(): Promise<void> {
  const engine = await createEngine(options.engine);
  await engine.ready?.();
  const hub = createHub({
    engine,
    defaultHistory: { size: 10_000, ...options.history },
    onError: (error, { channel }) => console.error(`hub error on ${channel}:`, String(error)),
  });
  const rate = options.publishRate ?? 10_000;
  const tidings = createTidingsServer({
    hub,
    heartbeatMs: options.heartbeatMs ?? 1_000,
    presence: options.presence,
    // The scenarios' clients publish, and are many anonymous clients of one address.
    publish: true,
    limits: {
      publishRate: { perSecond: rate, burst: rate },
      maxConnectionsPerIdentity: Number.POSITIVE_INFINITY,
    },
  });
  const server = createServer();
  tidings.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await tidings.close({ deadlineMs: options.shutdownDeadlineMs ?? 1_000 });
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      process.exit(0);
    })().catch((error) => {
      console.error('graceful stop failed:', error);
      process.exit(1);
    });
  });
  // The parent is gone (it crashed or was killed): nobody will ever stop this process otherwise.
  process.on('disconnect', () => process.exit(1));

  process.on('message', (message: ToServerProcess) => {
    if (message.type === 'credit') {
      credit = message.delivered;
      onCredit?.();
      return;
    }
    void (async () => {
      switch (message.method) {
        case 'publish':
          return hub.publish(...message.args);
        case 'setState':
          return hub.setState(...message.args);
        case 'position':
          return hub.position(...message.args);
        case 'stats': {
          const cpu = process.cpuUsage();
          return { ...tidings.stats(), rss: process.memoryUsage().rss, cpuUs: cpu.user + cpu.system };
        }
        case 'load':
          return runLoad(hub, ...message.args);
      }
    })().then(
      (value) => send({ type: 'result', id: message.id, value }),
      (error: unknown) =>
        send({
          type: 'error',
          id: message.id,
          code: isTidingsError(error) ? error.code : ErrorCode.internal,
          message: String((error as Error)?.message ?? error),
          details: isTidingsError(error) ? error.details : undefined,
        }),
    );
  });
  send({ type: 'listening', port: (server.address() as AddressInfo).port });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: String((error as Error)?.stack ?? error) });
  process.exit(1);
});
