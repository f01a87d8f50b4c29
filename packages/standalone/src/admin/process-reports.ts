import { hostname } from 'node:os';
import type { Hub, Subscription } from '@tidings/server';
import { PROCESSES_CHANNEL } from '../reserved.js';
import type { Sample } from './live-view.js';

/** What one server process tells the others' dashboards every few seconds. */
export interface ProcessReport {
  id: string;
  host: string;
  pid: number;
  /** ms since the epoch, when it was sent. */
  t: number;
  connections: Record<string, number>;
  /** Averages over the last report interval. */
  messagesPerS: number;
  deliveriesPerS: number;
}

const REPORT_EVERY_S = 5;
/** A process not heard from for this long has left (or lost the engine): it drops off the list. */
const STALE_MS = 3 * REPORT_EVERY_S * 1_000;

/**
 * The per-process breakdown on a shared engine (Redis, NATS): each process publishes a small report on
 * a reserved channel every 5 s and keeps the others' latest. On a single-process engine (memory,
 * SQLite) nothing is published and the list holds this process alone.
 */
export class ProcessReports {
  readonly #id: string;
  readonly #hub: Hub;
  readonly #shared: boolean;
  readonly #reports = new Map<string, ProcessReport>();
  readonly #subscription: Subscription | undefined;
  #window = { messages: 0, deliveries: 0, seconds: 0 };
  #closed = false;

  constructor(hub: Hub, id: string, shared: boolean) {
    this.#hub = hub;
    this.#id = id;
    this.#shared = shared;
    if (shared) {
      this.#subscription = hub.subscribe<ProcessReport>(PROCESSES_CHANNEL, (message) => {
        const report = message.data;
        if (typeof report?.id === 'string' && report.id !== this.#id) this.#reports.set(report.id, report);
      });
      // Without the engine there is nobody to hear from; the local row still shows.
      this.#subscription.ready.catch(() => undefined);
    }
  }

  /** Called once a second with this process's sample; every REPORT_EVERY_S it is reported. */
  sample(sample: Sample, connections: Record<string, number>): void {
    const window = this.#window;
    window.messages += sample.messages;
    window.deliveries += sample.deliveries;
    window.seconds++;
    if (window.seconds < REPORT_EVERY_S) return;
    const report: ProcessReport = {
      id: this.#id,
      host: hostname(),
      pid: process.pid,
      t: sample.t,
      connections,
      messagesPerS: window.messages / window.seconds,
      deliveriesPerS: window.deliveries / window.seconds,
    };
    this.#window = { messages: 0, deliveries: 0, seconds: 0 };
    this.#reports.set(this.#id, report);
    if (this.#shared && !this.#closed && !this.#hub.closed)
      this.#hub.publish(PROCESSES_CHANNEL, report).catch(() => undefined);
  }

  /** The processes heard from recently, this one first. */
  list(): ProcessReport[] {
    const now = Date.now();
    const list: ProcessReport[] = [];
    for (const [id, report] of this.#reports) {
      if (now - report.t > STALE_MS) this.#reports.delete(id);
      else list.push(report);
    }
    return list.sort((a, b) => (a.id === this.#id ? -1 : b.id === this.#id ? 1 : a.id < b.id ? -1 : 1));
  }

  close(): void {
    this.#closed = true;
    this.#subscription?.unsubscribe();
  }
}
