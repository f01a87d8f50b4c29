import type { Position } from '@tidings/protocol';
import type { Hub, TidingsServer } from '@tidings/server';
import type { Health } from '../ops/health.js';
import type { Metrics } from '../ops/metrics.js';
import { isReserved } from '../reserved.js';
import type { ProcessReports } from './process-reports.js';

/** One second of traffic on this process. */
export interface Sample {
  /** ms since the epoch, at the end of the second. */
  t: number;
  messages: number;
  deliveries: number;
}

export interface ChannelRow extends Partial<Position> {
  channel: string;
  /** Subscriptions on this process. */
  subscribers: number;
  /** Messages stored by this process in the last second. */
  rate: number;
}

/** What the dashboard shows, pushed once a second while one is open. */
export interface LiveFrame {
  t: number;
  process: { id: string; pid: number; uptimeS: number; rssBytes: number; cpuPercent: number };
  engine: { type: string; status: string; code?: string };
  connections: Record<string, number>;
  totals: { published: number; deliveries: number; slowConsumers: number };
  sample: Sample;
  errors: Record<string, number>;
  hooks: { hook: string; outcome: string; count: number }[];
  channels: ChannelRow[];
  channelCount: number;
  processes: ReturnType<ProcessReports['list']>;
}

/** 15 minutes of one-second samples for the chart. */
const SERIES_LENGTH = 900;
/** Channels listed per frame: the busiest first. */
const MAX_CHANNELS = 100;
/** The engine health probe is a round trip: every few seconds is enough for a dashboard. */
const HEALTH_EVERY = 5;

export interface LiveViewOptions {
  hub: Hub;
  tidings: TidingsServer;
  metrics: Metrics;
  health: Health;
  engine: string;
  processId: string;
  reports: ProcessReports;
}

/**
 * Samples this process once a second and, while at least one dashboard listens, builds the frame it
 * shows. Sampling alone is a few additions (so the chart has 15 minutes of history when a dashboard
 * opens); listing channels, their positions and the counters by label happens only for listeners.
 */
export class LiveView {
  readonly #options: LiveViewOptions;
  readonly #series: Sample[] = [];
  readonly #listeners = new Set<(frame: string) => void>();
  readonly #timer: NodeJS.Timeout;
  readonly #started = Date.now();
  #last = { published: 0, deliveries: 0 };
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();
  #tick = 0;
  #engine: LiveFrame['engine'];
  #building = false;

  constructor(options: LiveViewOptions) {
    this.#options = options;
    this.#engine = { type: options.engine, status: 'unknown' };
    this.#timer = setInterval(() => this.#sample(), 1_000);
    this.#timer.unref();
  }

  /** The samples of the last 15 minutes, oldest first. */
  series(): readonly Sample[] {
    return this.#series;
  }

  /** Calls `listener` with each frame (JSON) until the returned function is called. */
  listen(listener: (frame: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  #sample(): void {
    const { totals } = this.#options.metrics;
    const sample: Sample = {
      t: Date.now(),
      messages: totals.published - this.#last.published,
      deliveries: totals.deliveries - this.#last.deliveries,
    };
    this.#last = { published: totals.published, deliveries: totals.deliveries };
    this.#series.push(sample);
    if (this.#series.length > SERIES_LENGTH) this.#series.shift();
    const perChannel = this.#options.metrics.takeChannels();
    this.#options.reports.sample(sample, this.#options.tidings.stats().connections);
    this.#tick++;
    // A frame still being built (a slow engine) is not queued behind: that second is skipped.
    if (this.#listeners.size === 0 || this.#building) return;
    this.#building = true;
    this.#frame(sample, perChannel)
      .then((frame) => {
        const json = JSON.stringify(frame);
        for (const listener of this.#listeners) listener(json);
      })
      .catch(() => undefined)
      .finally(() => {
        this.#building = false;
      });
  }

  async #frame(sample: Sample, perChannel: Map<string, number>): Promise<LiveFrame> {
    const { hub, tidings, metrics, health } = this.#options;
    if (this.#tick % HEALTH_EVERY === 1 || this.#engine.status === 'unknown') {
      const report = await health.check();
      this.#engine = {
        type: this.#options.engine,
        status: report.body.status,
        ...(report.body.code !== undefined && { code: report.body.code }),
      };
    }
    const names = (await hub.engine.channels('>').catch(() => [] as string[])).filter(
      (channel) => !isReserved(channel),
    );
    const rows: ChannelRow[] = names.map((channel) => ({
      channel,
      subscribers: hub.subscriberCount(channel),
      rate: perChannel.get(channel) ?? 0,
    }));
    rows.sort((a, b) => b.rate - a.rate || b.subscribers - a.subscribers || (a.channel < b.channel ? -1 : 1));
    const shown = rows.slice(0, MAX_CHANNELS);
    await Promise.all(
      shown.map(async (row) => {
        const position = await hub.engine.position(row.channel).catch(() => undefined);
        if (position) Object.assign(row, { epoch: position.epoch, offset: position.offset });
      }),
    );
    const errors: Record<string, number> = {};
    for (const { labels, value } of (await metrics.errors.get()).values) {
      if (value > 0) errors[String(labels.code)] = value;
    }
    const hooks = (await metrics.hookCalls.get()).values.map(({ labels, value }) => ({
      hook: String(labels.hook),
      outcome: String(labels.outcome),
      count: value,
    }));
    return {
      t: sample.t,
      process: this.#process(),
      engine: this.#engine,
      connections: tidings.stats().connections,
      totals: { ...metrics.totals },
      sample,
      errors,
      hooks,
      channels: shown,
      channelCount: names.length,
      processes: this.#options.reports.list(),
    };
  }

  #process(): LiveFrame['process'] {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const percent = ((cpu.user + cpu.system) / 1_000 / Math.max(1, now - this.#cpuAt)) * 100;
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    return {
      id: this.#options.processId,
      pid: process.pid,
      uptimeS: Math.round((Date.now() - this.#started) / 1_000),
      rssBytes: process.memoryUsage.rss(),
      cpuPercent: Math.round(percent * 10) / 10,
    };
  }
}
