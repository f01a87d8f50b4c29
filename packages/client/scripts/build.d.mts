import type { BuildOptions, BuildResult } from 'esbuild';

export function bundle(
  format: 'esm' | 'iife',
  options?: BuildOptions,
): Promise<BuildResult<{ write: false }>>;
export function measure(format: 'esm' | 'iife'): Promise<{ text: string; bytes: number; gzipped: number }>;
export const FILES: { esm: string; iife: string };
