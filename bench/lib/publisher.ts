import type { BenchServer } from '../targets/target.js';
import type { Published, PublishPlan } from './ipc.js';
import { benchData, now, padding } from './payload.js';

/** Deliveries published per event-loop turn at rate 0, so sockets get flushed between bursts. */
const TURN_DELIVERIES = 2_000;

/**
 * Publishes in the server process, round-robin over the plan's channels, each channel numbering its
 * messages 1, 2, 3, …. At a fixed rate the count is exact (rate × seconds), so every subscriber knows
 * what it should have received. At rate 0 it publishes as fast as subscribers keep up, holding at most
 * `window` deliveries in flight: past that, a faster publisher only measures how queues grow.
 */
export class Publisher {
  private readonly pad: string;
  private readonly perChannel: number[];
  private readonly total: number;
  private k = 0;
  private startedAt = 0;
  private startMono = 0;
  private deliveriesOut = 0;
  private credit = 0;
  private waiting = false;
  private done = false;
  private pending = 0;
  private errors = 0;
  private firstError: string | undefined;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: BenchServer,
    private readonly plan: PublishPlan,
    private readonly onDone: (result: Published) => void,
  ) {
    this.pad = padding(plan.payloadBytes);
    this.perChannel = plan.channels.map(() => 0);
    this.total = plan.rate > 0 ? Math.round(plan.rate * plan.seconds) : Number.POSITIVE_INFINITY;
  }

  start(): void {
    this.startedAt = now();
    this.startMono = performance.now();
    if (this.plan.rate > 0) {
      this.tick();
    } else {
      this.endTimer = setTimeout(() => this.finish(), this.plan.seconds * 1000);
      this.pump();
    }
  }

  /** Deliveries received so far, reported by the load processes. */
  setCredit(delivered: number): void {
    this.credit = delivered;
    if (this.waiting && !this.done) {
      this.waiting = false;
      setImmediate(() => this.pump());
    }
  }

  private publishOne(): number {
    const c = this.k % this.plan.channels.length;
    this.k++;
    const n = ++this.perChannel[c];
    if (this.plan.dropEvery && this.k % this.plan.dropEvery === 0) return this.plan.subscribers[c];
    try {
      const result = this.server.publish(this.plan.channels[c], benchData(n, this.pad));
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        this.pending++;
        (result as Promise<unknown>).then(
          () => this.settled(),
          (error) => this.settled(error),
        );
      }
    } catch (error) {
      this.recordError(error);
    }
    return this.plan.subscribers[c];
  }

  /**
   * One message per call, so one per event-loop turn: a publisher that is behind catches up over
   * several turns (setImmediate), never in one. Node's http layer (and any server that corks a turn's
   * writes) coalesces the writes of one turn, which would hand a baseline batching its users never get
   * from a real publisher.
   */
  private tick = (): void => {
    const elapsed = performance.now() - this.startMono;
    const due = Math.min(this.total, Math.floor((elapsed * this.plan.rate) / 1000) + 1);
    if (this.k < due) this.publishOne();
    if (this.k >= this.total) {
      this.finish();
      return;
    }
    const wait = this.startMono + (this.k * 1000) / this.plan.rate - performance.now();
    if (wait > 0) setTimeout(this.tick, wait);
    else setImmediate(this.tick);
  };

  private pump(): void {
    if (this.done) return;
    let budget = TURN_DELIVERIES;
    while (budget > 0 && this.deliveriesOut - this.credit < this.plan.window) {
      const cost = this.publishOne();
      this.deliveriesOut += cost;
      budget -= Math.max(1, cost);
    }
    if (this.deliveriesOut - this.credit >= this.plan.window) this.waiting = true;
    else setImmediate(() => this.pump());
  }

  private settled(error?: unknown): void {
    this.pending--;
    if (error !== undefined) this.recordError(error);
    if (this.done && this.pending === 0) this.report();
  }

  private recordError(error: unknown): void {
    this.errors++;
    this.firstError ??= error instanceof Error ? error.message : String(error);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.endTimer);
    if (this.pending === 0) this.report();
  }

  private endedAt = 0;
  private report(): void {
    if (this.endedAt !== 0) return;
    this.endedAt = now();
    this.onDone({
      perChannel: this.perChannel,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      errors: this.errors,
      firstError: this.firstError,
    });
  }
}
