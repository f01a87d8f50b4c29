import { ErrorCode, TransportName } from '@tidings/protocol';
import type { ServerObserver, TidingsServer } from '@tidings/server';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The Prometheus metrics of one standalone server, in a registry of its own (never prom-client's
 * global one, so two servers in one process, as in tests, do not share counters).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly published: Counter;
  readonly duplicates: Counter;
  readonly deliveries: Counter;
  readonly slowConsumers: Counter;
  readonly disconnects: Counter<'code'>;
  readonly errors: Counter<'code'>;
  readonly apiRequests: Counter<'endpoint' | 'status'>;
  readonly engineLatency: Histogram<'operation' | 'outcome'>;
  readonly hookCalls: Counter<'hook' | 'outcome'>;
  readonly hookLatency: Histogram<'hook'>;
  /** Handed to createTidingsServer: each callback is one counter increment. */
  readonly observer: ServerObserver;
  /**
   * The same counts as plain numbers, read every second by the dashboard's live view (prom-client's
   * getters are async and build objects), plus messages stored per channel since the last `takeChannels()`.
   */
  readonly totals = { published: 0, deliveries: 0, slowConsumers: 0 };
  #perChannel = new Map<string, number>();
  #server: TidingsServer | undefined;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const server = () => this.#server;
    new Gauge({
      name: 'tidings_connections',
      help: 'Open client connections, by transport',
      labelNames: ['transport'],
      registers,
      collect() {
        const stats = server()?.stats().connections;
        for (const transport of Object.values(TransportName))
          this.set({ transport }, stats?.[transport] ?? 0);
      },
    });
    this.published = new Counter({
      name: 'tidings_messages_published_total',
      help: 'Messages stored by this process: HTTP API and client publishes, broadcasts counted per channel',
      registers,
    });
    this.duplicates = new Counter({
      name: 'tidings_publish_duplicates_total',
      help: 'Publishes answered from an idempotency key seen before: nothing new was stored',
      registers,
    });
    this.deliveries = new Counter({
      name: 'tidings_deliveries_total',
      help: 'Messages, snapshots and resets sent to client connections',
      registers,
    });
    this.slowConsumers = new Counter({
      name: 'tidings_slow_consumers_total',
      help: 'Connections dropped because they could not keep up (they reconnect and resume)',
      registers,
    });
    this.disconnects = new Counter({
      name: 'tidings_disconnects_total',
      help: 'Connections the server ended with a disconnect frame, by code',
      labelNames: ['code'],
      registers,
    });
    this.errors = new Counter({
      name: 'tidings_errors_total',
      help: 'Errors answered to clients and to the HTTP API, by code',
      labelNames: ['code'],
      registers,
    });
    this.apiRequests = new Counter({
      name: 'tidings_api_requests_total',
      help: 'HTTP API requests, by endpoint and status',
      labelNames: ['endpoint', 'status'],
      registers,
    });
    this.engineLatency = new Histogram({
      name: 'tidings_engine_seconds',
      help: 'Engine call latency, by operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.hookCalls = new Counter({
      name: 'tidings_hook_calls_total',
      help: 'Calls to the backend hooks, by hook and outcome (allow, deny, or the error code)',
      labelNames: ['hook', 'outcome'],
      registers,
    });
    this.hookLatency = new Histogram({
      name: 'tidings_hook_seconds',
      help: 'Backend hook latency, by hook',
      labelNames: ['hook'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    // Zero series up front, so a dashboard shows 0 rather than "no data" before the first event.
    for (const code of [ErrorCode.engineUnavailable, ErrorCode.unauthorized, ErrorCode.forbidden]) {
      this.errors.inc({ code }, 0);
    }
    const { deliveries, errors, disconnects, slowConsumers, totals } = this;
    this.observer = {
      delivered: () => {
        deliveries.inc();
        totals.deliveries++;
      },
      error: (code) => errors.inc({ code }),
      disconnected: (code) => {
        disconnects.inc({ code });
        if (code === ErrorCode.slowConsumer) {
          slowConsumers.inc();
          totals.slowConsumers++;
        }
      },
    };
  }

  /** A message was stored on `channel` by this process. */
  stored(channel: string): void {
    this.published.inc();
    this.totals.published++;
    this.#perChannel.set(channel, (this.#perChannel.get(channel) ?? 0) + 1);
  }

  /** Messages stored per channel since the last call (so the map never outgrows one interval). */
  takeChannels(): Map<string, number> {
    const taken = this.#perChannel;
    this.#perChannel = new Map();
    return taken;
  }

  /** The server whose connections `tidings_connections` reports. */
  watch(server: TidingsServer): void {
    this.#server = server;
  }

  /** The exposition text for `GET /metrics`. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
