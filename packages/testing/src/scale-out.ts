// Building blocks of the multi-process tests (packages/redis and packages/nats): a cluster of server
// processes behind a round-robin proxy, subscribers that record everything they are handed, publishers
// that go through every path (client, HTTP, a process's hub), and the exactly-once check.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, connect } from '@tidings/client';
import {
  DEFAULT_MOUNT_PATH,
  Endpoint,
  encodeCursor,
  FrameType,
  type Position,
  Query,
  type ServerFrame,
  type SinceSpec,
  TransportName,
} from '@tidings/protocol';
import WebSocket from 'ws';
import { RoundRobinProxy } from './round-robin-proxy.js';
import {
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
  startServerProcesses,
} from './server-process.js';
import { waitFor } from './wait-for.js';

export interface AfterHook {
  after(fn: () => unknown): void;
}

export interface Cluster {
  /** Every process started, dead ones included, in start order. */
  readonly processes: readonly ServerProcess[];
  /** In front of the live processes: each new connection goes to the next one. */
  readonly proxy: RoundRobinProxy;
  /** The processes running and not being drained. */
  live(): ServerProcess[];
  /** Mount URLs of the processes still running, as a load balancer's health check would list them. */
  urls(): string[];
  /** Starts one more process on the same engine and puts it behind the proxy. */
  add(): Promise<ServerProcess>;
  /** Takes a process out of the proxy, then stops it gracefully (SIGTERM), as a rolling deploy does. */
  drain(process: ServerProcess): Promise<void>;
}

/** Starts `count` server processes on one engine and a proxy in front; all stopped after the test. */
export async function startCluster(
  t: AfterHook,
  count: number,
  options: ServerProcessOptions,
): Promise<Cluster> {
  const processes = await startServerProcesses(count, options);
  t.after(() => Promise.all(processes.map((p) => p.kill())));
  const proxy = await new RoundRobinProxy(processes.map((p) => p.port)).start();
  t.after(() => proxy.close());
  const drained = new Set<ServerProcess>();
  const live = () => processes.filter((p) => p.alive && !drained.has(p));
  return {
    processes,
    proxy,
    live,
    urls: () => live().map((p) => p.url),
    async add() {
      const label = options.label ? `${options.label}-${processes.length}` : undefined;
      const added = await startServerProcess({ ...options, label });
      t.after(() => added.kill());
      processes.push(added);
      proxy.backends = live().map((p) => p.port);
      return added;
    },
    async drain(process) {
      drained.add(process);
      proxy.backends = live().map((p) => p.port);
      await process.stop();
    },
  };
}

/** One thing a subscriber was handed, in the order it was handed. */
export interface Delivery {
  type: 'message' | 'snapshot' | 'reset';
  epoch: string;
  offset: number;
  data?: unknown;
}

export interface Subscriber {
  readonly name: string;
  readonly received: Delivery[];
  /** Client: connections lost and made again. Poller: requests that failed and were sent elsewhere. */
  readonly reconnects: number;
}

export interface ClientSubscriber extends Subscriber {
  readonly client: Client;
}

const SUBSCRIBE_TIMEOUT_MS = 15_000;

/**
 * A Node `@tidings/client` (WebSocket from `ws` by default) subscribed to `channel` through `origin`:
 * every message, snapshot and reset it hands the app is recorded. Resolves once subscribed.
 */
export async function clientSubscriber(
  t: AfterHook,
  origin: string,
  channel: string,
  options: { name: string; since?: SinceSpec; transport?: TransportName },
): Promise<ClientSubscriber> {
  const transports = [options.transport ?? TransportName.websocket];
  const client = connect(origin, { WebSocket, transports, backoff: () => 50 });
  t.after(() => client.close());
  const received: Delivery[] = [];
  let reconnects = 0;
  client.on('state', ({ oldState, newState }) => {
    if (oldState === 'connected' && newState === 'connecting') reconnects++;
  });
  const subscription = client.subscribe(
    channel,
    (m) =>
      received.push({
        type: m.snapshot ? 'snapshot' : 'message',
        epoch: m.epoch,
        offset: m.offset,
        data: m.data,
      }),
    { since: options.since },
  );
  subscription.on('reset', (p) => received.push({ type: 'reset', epoch: p.epoch, offset: p.offset }));
  await waitFor(
    () => subscription.state === 'subscribed',
    SUBSCRIBE_TIMEOUT_MS,
    `${options.name} subscribed`,
  );
  return {
    name: options.name,
    client,
    received,
    get reconnects() {
      return reconnects;
    },
  };
}

export interface LongPoller extends Subscriber {
  /** The URL that answered each request, in order. */
  readonly answeredBy: string[];
  readonly errors: string[];
  stop(): Promise<void>;
}

/**
 * A raw long-polling subscriber with no state but its cursor: each request goes to the next of
 * `urls()` (round-robin) carrying the cursor of the last answer; a failed request is sent again, with
 * the same cursor, to the next one. Records every frame exactly as the servers sent it (no
 * de-duplication), so a duplicate from any server shows.
 */
export function longPoller(
  t: AfterHook,
  urls: () => readonly string[],
  channel: string,
  options: { name: string; from?: Position; since?: 'now' | 'snapshot'; waitMs?: number },
): LongPoller {
  const received: Delivery[] = [];
  const answeredBy: string[] = [];
  const errors: string[] = [];
  const controller = new AbortController();
  let cursor = options.from ? encodeCursor(new Map([[channel, options.from]])) : undefined;
  let reconnects = 0;
  let turn = 0;
  const waitMs = options.waitMs ?? 2_000;
  const loop = (async () => {
    while (!controller.signal.aborted) {
      const targets = urls();
      if (targets.length === 0) {
        await sleep(20);
        continue;
      }
      const url = targets[turn++ % targets.length];
      const query = new URLSearchParams({ [Query.channel]: channel, [Query.wait]: String(waitMs) });
      if (cursor !== undefined) query.set(Query.cursor, cursor);
      else if (options.since) query.set(Query.since, options.since);
      try {
        const response = await fetch(`${url}${Endpoint.longpoll}?${query}`, {
          signal: AbortSignal.any([controller.signal, AbortSignal.timeout(waitMs + 10_000)]),
        });
        const text = await response.text();
        if (!response.ok) throw new Error(`${response.status} ${text.slice(0, 200)}`);
        const body = JSON.parse(text) as { frames: ServerFrame[]; cursor: string };
        for (const frame of body.frames) {
          if (frame.type === FrameType.message || frame.type === FrameType.snapshot) {
            received.push({ type: frame.type, epoch: frame.epoch, offset: frame.offset, data: frame.data });
          } else if (frame.type === FrameType.reset) {
            received.push({ type: 'reset', epoch: frame.epoch, offset: frame.offset });
          } else if (frame.type === FrameType.error) {
            errors.push(`${url}: ${frame.code} ${frame.message}`);
          }
        }
        cursor = body.cursor;
        answeredBy.push(url);
      } catch (error) {
        if (controller.signal.aborted) break;
        reconnects++;
        if (errors.length < 20) errors.push(`${url}: ${(error as Error).message}`);
        await sleep(20);
      }
    }
  })();
  const stop = async () => {
    controller.abort();
    await loop;
  };
  t.after(stop);
  return {
    name: options.name,
    received,
    answeredBy,
    errors,
    stop,
    get reconnects() {
      return reconnects;
    },
  };
}

export interface PresenceWatcher {
  /** The connection id the server gave it (`welcome`): its member's `client`. */
  readonly client: string;
  /** `join` and `leave` frames, in order: `+client` or `-client`. */
  readonly events: string[];
  close(): void;
}

/**
 * A raw WebSocket connection subscribed to `channel` on one server: a member of the channel's presence
 * if the server has presence there, recording the join and leave frames it gets.
 */
export async function presenceWatcher(
  t: AfterHook,
  origin: string,
  channel: string,
): Promise<PresenceWatcher> {
  const socket = new WebSocket(`${origin.replace(/^http/, 'ws')}${DEFAULT_MOUNT_PATH}${Endpoint.websocket}`);
  t.after(() => socket.terminate());
  const events: string[] = [];
  let client = '';
  let subscribed = false;
  socket.on('message', (raw) => {
    const frame = JSON.parse(String(raw)) as ServerFrame;
    if (frame.type === FrameType.welcome) {
      client = frame.client;
      socket.send(JSON.stringify({ type: FrameType.subscribe, id: 1, channel }));
    } else if (frame.type === FrameType.subscribed) subscribed = true;
    else if (frame.type === FrameType.join) events.push(`+${frame.member.client}`);
    else if (frame.type === FrameType.leave) events.push(`-${frame.member.client}`);
  });
  socket.on('error', () => undefined);
  await waitFor(() => subscribed, SUBSCRIBE_TIMEOUT_MS, `subscribed to ${channel} on ${origin}`);
  return { client, events, close: () => socket.close() };
}

/** The `client` of each member of `channel`, sorted, as `GET /presence` on `url` answers. */
export async function presenceOf(url: string, channel: string): Promise<string[]> {
  const response = await fetch(`${url}${Endpoint.presence}?${Query.channel}=${encodeURIComponent(channel)}`, {
    signal: AbortSignal.timeout(5_000),
  });
  const frame = (await response.json()) as ServerFrame;
  if (frame.type !== FrameType.presence) throw new Error(`${url}: ${JSON.stringify(frame)}`);
  return frame.members.map((m) => m.client).sort();
}

export interface Publication {
  id: string;
  epoch: string;
  offset: number;
  /** Which path took it: `client`, `http` or `hub`, and the process or origin. */
  via: string;
}

/** Every acknowledged publish of a test, by payload id (one entry per id, however often it was retried). */
export class Ledger {
  readonly #byId = new Map<string, Publication>();

  add(publication: Publication): void {
    const known = this.#byId.get(publication.id);
    // A retry of an already stored publish must come back with the original position.
    if (known !== undefined) {
      assert.deepEqual(
        [publication.epoch, publication.offset],
        [known.epoch, known.offset],
        `${publication.id} acknowledged at two positions`,
      );
      return;
    }
    this.#byId.set(publication.id, publication);
  }

  get size(): number {
    return this.#byId.size;
  }

  all(): Publication[] {
    return [...this.#byId.values()];
  }

  /**
   * The messages of `epoch` every subscriber must get, in offset order. Fails unless the acknowledged
   * offsets are exactly `from+1 … from+n`: the engine stored each publish once and nothing else.
   */
  expected(epoch: string, from = 0): Delivery[] {
    const publications = this.all()
      .filter((p) => p.epoch === epoch)
      .sort((a, b) => a.offset - b.offset);
    publications.forEach((p, i) => {
      assert.equal(
        p.offset,
        from + i + 1,
        `offset ${from + i + 1} of ${epoch} was acknowledged to no publish`,
      );
    });
    return publications.map((p) => ({ type: 'message', epoch, offset: p.offset, data: { id: p.id } }));
  }
}

/** Waits until `more` publishes beyond those acknowledged now are (time-based waits are flaky on a busy machine). */
export async function acknowledged(ledger: Ledger, more: number, timeoutMs = 20_000): Promise<number> {
  const want = ledger.size + more;
  await waitFor(
    () => ledger.size >= want,
    timeoutMs,
    `${want} publishes acknowledged (${ledger.size} so far)`,
  );
  return ledger.size;
}

/** Runs `publishOne(0)`, `publishOne(1)`, … one at a time until `count` or `until()`, pausing `pauseMs` between. */
export async function publishLoop(
  options: { count?: number; until?: () => boolean; pauseMs?: number },
  publishOne: (i: number) => Promise<void>,
): Promise<number> {
  let i = 0;
  for (; i < (options.count ?? Number.POSITIVE_INFINITY) && !options.until?.(); i++) {
    await publishOne(i);
    if (options.pauseMs) await sleep(options.pauseMs);
  }
  return i;
}

const RETRY_DEADLINE_MS = 20_000;

/** Retries `attempt` (which picks the next target each time) until it succeeds or the deadline passes. */
async function withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_DEADLINE_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`${what}: still failing after ${RETRY_DEADLINE_MS} ms`, { cause: error });
      await sleep(20);
    }
  }
}

/**
 * Publishes through the hub of a running process, the next one each time (round-robin). If that
 * process dies or fails, the same publish (same idempotency id) goes to another: stored once.
 */
export function hubPublisher(cluster: Cluster, channel: string, ledger: Ledger, source: string) {
  let turn = 0;
  return async (i: number) => {
    const id = `${source}:${i}`;
    // The ledger is told outside the retries, so that its own assertion is not retried away.
    const publication = await withRetries(id, async () => {
      const live = cluster.live();
      const process = live[turn++ % live.length];
      const ack = await process.publish(channel, { id }, { id });
      return { id, epoch: ack.epoch, offset: ack.offset, via: `hub ${process.label}` };
    });
    ledger.add(publication);
  };
}

/** Publishes with `POST /tidings/publish` to the next live process each time; retries elsewhere with the same key. */
export function httpPublisher(cluster: Cluster, channel: string, ledger: Ledger, source: string) {
  let turn = 0;
  return async (i: number) => {
    const id = `${source}:${i}`;
    const publication = await withRetries(id, async () => {
      const urls = cluster.urls();
      const url = urls[turn++ % urls.length];
      const response = await fetch(`${url}${Endpoint.publish}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, data: { id }, key: id }),
        signal: AbortSignal.timeout(10_000),
      });
      const frame = (await response.json()) as ServerFrame;
      if (frame.type !== FrameType.ack) throw new Error(`${url}: ${JSON.stringify(frame)}`);
      return { id, epoch: frame.epoch, offset: frame.offset, via: `http ${url}` };
    });
    ledger.add(publication);
  };
}

/** Publishes with `client.publish` (the client re-sends with the same key after a reconnect). */
export function clientPublisher(subscriber: ClientSubscriber, channel: string, ledger: Ledger) {
  return async (i: number) => {
    const id = `${subscriber.name}:${i}`;
    const ack = await subscriber.client.publish(channel, { id });
    ledger.add({ id, epoch: ack.epoch, offset: ack.offset, via: `client ${subscriber.name}` });
  };
}

function show(d: Delivery | undefined): string {
  return d === undefined ? 'nothing' : `${d.type} ${d.epoch}:${d.offset} ${JSON.stringify(d.data)}`;
}

/** Waits until every subscriber holds at least as many deliveries as it should. */
export async function waitForAll(
  subscribers: readonly Subscriber[],
  count: (s: Subscriber) => number,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    () => subscribers.every((s) => s.received.length >= count(s)),
    timeoutMs,
    `every subscriber's messages (${subscribers.map((s) => `${s.name} ${s.received.length}/${count(s)}`).join(', ')})`,
  ).catch((error: Error) => {
    const state = subscribers.map((s) => `${s.name}: ${s.received.length}/${count(s)}`).join(', ');
    throw new Error(`${error.message}; now ${state}`);
  });
}

/** Asserts a subscriber was handed exactly `expected`, in order: nothing missing, repeated or extra. */
export function assertReceived(subscriber: Subscriber, expected: readonly Delivery[]): void {
  const got = subscriber.received;
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const a = got[i];
    const b = expected[i];
    const same =
      a !== undefined &&
      b !== undefined &&
      a.type === b.type &&
      a.epoch === b.epoch &&
      a.offset === b.offset &&
      (b.data === undefined || JSON.stringify(a.data) === JSON.stringify(b.data));
    if (!same) {
      assert.fail(
        `${subscriber.name}: delivery #${i + 1} is ${show(a)}, expected ${show(b)} ` +
          `(${got.length} received, ${expected.length} expected; before it: ${show(got[i - 1])})`,
      );
    }
  }
}
