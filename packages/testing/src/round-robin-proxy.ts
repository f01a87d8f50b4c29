import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A load balancer without sticky sessions, for tests: a TCP proxy on 127.0.0.1, port 0, that sends
 * each new connection to the next backend port in turn, skipping any that refuses (a killed process),
 * and that cuts the client side when its backend goes away. A client given `proxy.origin` thus lands on
 * any live server process, and on another one after its process dies.
 */
export class RoundRobinProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #backends: number[];
  #next = 0;
  port = 0;
  /** Connections accepted per backend port, so tests can check the spread. */
  readonly connections = new Map<number, number>();

  constructor(backends: readonly number[]) {
    this.#backends = [...backends];
    this.#server = createServer({ pauseOnConnect: true }, (client) => this.#relay(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get backends(): readonly number[] {
    return this.#backends;
  }

  /** Replaces the backends; connections already relayed stay where they are. */
  set backends(ports: readonly number[]) {
    this.#backends = [...ports];
  }

  /** Drops every relayed connection, as a network failure would. */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #relay(client: Socket, tries = 0): void {
    if (tries === 0) {
      this.#track(client);
      client.on('error', () => client.destroy());
    }
    if (client.destroyed || tries >= this.#backends.length) {
      client.destroy();
      return;
    }
    const port = this.#backends[this.#next++ % this.#backends.length];
    const upstream = createConnection({ host: '127.0.0.1', port });
    this.#track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.connections.set(port, (this.connections.get(port) ?? 0) + 1);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      // Either side going away ends the pair: a client must see its server die to reconnect.
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
    });
    upstream.on('error', () => {
      upstream.destroy();
      if (!connected) this.#relay(client, tries + 1);
    });
  }
}
