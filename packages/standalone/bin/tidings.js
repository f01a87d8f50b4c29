#!/usr/bin/env node
// The `tidings` command: runs the compiled CLI (dist/cli.js). `#cli` is one of this package's
// `imports`; inside the monorepo, `node --conditions=@tidings/source --import tsx` maps it to the
// TypeScript sources instead. Running in-process keeps signals and exit codes direct.
import { main } from '#cli';

// Exit explicitly: an engine's reconnect timer must not keep a stopped server alive.
process.exit(await main(process.argv.slice(2)));
