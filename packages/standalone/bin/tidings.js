#!/usr/bin/env node
// The `tidings` command. Tidings ships TypeScript sources (no build step), so tsx's loader is
// registered in this process first; running in-process keeps signals and exit codes direct.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
