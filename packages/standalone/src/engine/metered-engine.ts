import type { Position } from '@tidings/protocol';
import type {
  Engine,
  EnginePresence,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from '@tidings/server';
import type { Metrics } from '../ops/metrics.js';
import { isReserved } from '../reserved.js';

/**
 * An engine that times its publishes and counts what they stored. Every publish of the process goes
 * through it (HTTP API, WebSocket and HTTP clients, broadcasts), so no transport needs a counter of its
 * own. The other calls pass straight through.
 */
export class MeteredEngine implements Engine {
  readonly inner: Engine;
  readonly #metrics: Metrics;

  constructor(inner: Engine, metrics: Metrics) {
    this.inner = inner;
    this.#metrics = metrics;
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    const end = this.#metrics.engineLatency.startTimer({ operation: 'publish' });
    try {
      const result = await this.inner.publish(request);
      end({ outcome: 'ok' });
      // The server's own control messages are not traffic.
      if (isReserved(request.channel)) return result;
      if (result.duplicate) this.#metrics.duplicates.inc();
      else this.#metrics.stored(request.channel);
      return result;
    } catch (error) {
      end({ outcome: 'error' });
      throw error;
    }
  }

  position(channel: string): Promise<Position> {
    return this.inner.position(channel);
  }

  read(channel: string, after: number, limit: number): Promise<ReadResult> {
    return this.inner.read(channel, after, limit);
  }

  setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position> {
    return this.inner.setSnapshot(channel, data, policy);
  }

  snapshot(channel: string): Promise<Snapshot | null> {
    return this.inner.snapshot(channel);
  }

  subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void> {
    return this.inner.subscribe(channelOrPattern, listener);
  }

  channels(pattern: string): Promise<string[]> {
    return this.inner.channels(pattern);
  }

  get presence(): EnginePresence | undefined {
    return this.inner.presence;
  }

  async ready(): Promise<void> {
    await this.inner.ready?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
