import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import type { Machine } from './result.js';

/** Where the figures were measured, recorded with every result so they are never compared blind. */
export function machine(): Machine {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    commit: git.status === 0 ? git.stdout.trim() : undefined,
  };
}

/** The soft limit on open files, which bounds the connections one process can hold. */
export function openFileLimit(): number {
  const result = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const value = Number(result.stdout.trim());
  return Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
}
