import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetResult } from './result.js';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** bench/results/<UTC date>.jsonl: one file a day, appended to, so runs accumulate for the chart. */
export function defaultResultsFile(date = new Date()): string {
  return join(RESULTS_DIR, `${date.toISOString().slice(0, 10)}.jsonl`);
}

export function appendResults(file: string, results: TargetResult[]): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, results.map((r) => `${JSON.stringify(r)}\n`).join(''));
}
