/**
 * What every target's publisher sends: a sequence number per channel and the send time, padded to a
 * fixed JSON size. `n` = 0 marks a priming message, which proves a subscriber is live and is not counted.
 */
export interface BenchData {
  n: number;
  /** performance.timeOrigin + performance.now() of the publisher: comparable across processes. */
  sent: number;
  pad: string;
}

/** Wall-clock time with sub-millisecond resolution, shared by every process on the machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

const SKELETON = JSON.stringify({ n: 1000, sent: 1_732_590_000_000.123, pad: '' }).length;

/** Padding that makes a message's JSON about `bytes` long. */
export function padding(bytes: number): string {
  return 'x'.repeat(Math.max(0, bytes - SKELETON));
}

export function benchData(n: number, pad: string): BenchData {
  return { n, sent: now(), pad };
}
