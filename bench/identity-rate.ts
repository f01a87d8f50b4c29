// The publish rate one identity gets through 20 WebSockets (issue 12, finding 5).
// Usage: node --import tsx bench/identity-rate.ts [repo root, default .] [seconds, default 3]
// 20 WebSockets of one identity publish as fast as they can (each keeps 50 publishes in flight) for
// `seconds`; prints the acks received (publishes stored) and the rate limit.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// Another checkout's root measures its code (the "before" figure: /work/main).
const root = resolve(process.argv[2] ?? '.');
const seconds = Number(process.argv[3] ?? 3);
const require = createRequire(`${root}/package.json`);
const { WebSocket } = require('ws') as typeof import('ws');
const { listen } = await import(pathToFileURL(`${root}/packages/server/test-support/listen.ts`).href);
const srv = await listen({ publish: true, authenticate: () => ({ id: 'mallory' }) });
let acks = 0;
let limited = 0;
const sockets: InstanceType<typeof WebSocket>[] = [];
const end = Date.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: 20 }, async (_, c) => {
    const ws = new WebSocket(`${srv.wsUrl}/ws?token=x`, { perMessageDeflate: false });
    sockets.push(ws);
    await new Promise((r) => ws.once('open', r));
    let id = 0;
    const send = () => {
      if (Date.now() < end) ws.send(JSON.stringify({ type: 'publish', id: ++id, channel: `flood`, data: c }));
    };
    ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      if (f.type === 'ack') acks++;
      else if (f.type === 'error') limited++;
      else return;
      send();
    });
    for (let i = 0; i < 50; i++) send();
    await new Promise((r) => setTimeout(r, seconds * 1000 + 300));
  }),
);
const stored = (await srv.hub.position('flood')).offset;
console.log(JSON.stringify({ seconds, connections: 20, acks, refused: limited, stored }));
for (const ws of sockets) ws.terminate();
await srv.close();
process.exit(0);
