import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsEngine, type NatsEngineOptions } from '../src/index.js';

export const NATS_URL = '127.0.0.1:4222';

/** Null when NATS JetStream answers at NATS_URL, else why not. */
export async function natsUnavailable(): Promise<string | null> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 1_000, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 1_000 });
      await jsm.getAccountInfo();
    } finally {
      await nc.close();
    }
    return null;
  } catch (error) {
    return `NATS JetStream is not reachable at ${NATS_URL}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** A stream name and subject prefix of their own, so test files can run in parallel. */
export function namespace(label: string): Required<Pick<NatsEngineOptions, 'stream' | 'subjectPrefix'>> {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  return { stream: `TIDINGS_TEST_${label}_${tag}`, subjectPrefix: `tt_${label}_${tag}` };
}

/** Deletes the streams a namespace's engines created. */
export async function deleteStreams(stream: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL, timeout: 2_000, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    for (const name of [stream, `${stream}_SNAP`, `${stream}_PRES`])
      await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

/** Removes every stored message of one channel, as an operator (or `max_age`) would. */
export async function purgeChannel(stream: string, subjectPrefix: string, channel: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL, timeout: 2_000, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await jsm.streams.purge(stream, { filter: `${subjectPrefix}.${channel}` });
  } finally {
    await nc.close();
  }
}

export function testEngine(options: NatsEngineOptions): NatsEngine {
  return new NatsEngine({ servers: NATS_URL, storage: 'memory', ...options });
}

/**
 * A TCP relay in front of NATS on a loopback port: `cut()` drops every relayed connection (the client
 * sees a broken connection and reconnects through the relay); `stop()` stops listening too.
 */
export class Relay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(readonly target: { host: string; port: number } = { host: '127.0.0.1', port: 4222 }) {
    this.#server = createServer((client) => {
      const upstream = new (client.constructor as typeof Socket)();
      upstream.connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.#server.address();
    if (address && typeof address === 'object') this.port = address.port;
    return this;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
