#!/usr/bin/env node
// The `tidings` command. Tidings ships TypeScript sources (no build step), so tsx's loader is
// registered in this process first; running in-process keeps signals and exit codes direct.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
// Exit explicitly: an engine's reconnect timer must not keep a stopped server alive.
process.exit(await main(process.argv.slice(2)));
