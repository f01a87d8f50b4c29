/**
 * A log-bucketed latency histogram (1% resolution from 1 µs to minutes). Every delivery is recorded,
 * not a sample, and histograms from several load processes merge by adding their buckets.
 */
const SCALE = 1 / Math.log(1.01);
const BUCKETS = 2_000;

export interface HistogramData {
  buckets: number[];
  count: number;
  sumUs: number;
  minUs: number;
  maxUs: number;
}

export class Histogram {
  private readonly buckets = new Uint32Array(BUCKETS);
  count = 0;
  sumUs = 0;
  minUs = Number.POSITIVE_INFINITY;
  maxUs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    // Clocks of two processes agree only to a few µs, so a tiny negative latency is noise, not an error.
    const us = ms > 0.001 ? ms * 1000 : 1;
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log(us) * SCALE));
    this.buckets[i]++;
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sumUs = 0;
    this.minUs = Number.POSITIVE_INFINITY;
    this.maxUs = 0;
  }

  toJSON(): HistogramData {
    return {
      buckets: Array.from(this.buckets),
      count: this.count,
      sumUs: this.sumUs,
      minUs: this.minUs,
      maxUs: this.maxUs,
    };
  }
}

export function mergeHistograms(parts: HistogramData[]): HistogramData {
  const out: HistogramData = {
    buckets: new Array(BUCKETS).fill(0),
    count: 0,
    sumUs: 0,
    minUs: Number.POSITIVE_INFINITY,
    maxUs: 0,
  };
  for (const h of parts) {
    for (let i = 0; i < BUCKETS; i++) out.buckets[i] += h.buckets[i] ?? 0;
    out.count += h.count;
    out.sumUs += h.sumUs;
    out.minUs = Math.min(out.minUs, h.minUs);
    out.maxUs = Math.max(out.maxUs, h.maxUs);
  }
  return out;
}

/** The latency (ms) below which a fraction `q` of deliveries fall: the geometric middle of its bucket. */
export function quantileMs(h: HistogramData, q: number): number {
  if (h.count === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h.buckets[i];
    if (seen >= rank) {
      const us = Math.exp((i + 0.5) / SCALE);
      return Math.min(Math.max(us, h.minUs), h.maxUs) / 1000;
    }
  }
  return h.maxUs / 1000;
}
