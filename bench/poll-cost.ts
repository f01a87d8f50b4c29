// Server CPU per poll request, against the floor of node:http itself: `npm run poll-cost --workspace bench`.
// A child process serves one of: `bare` (a node:http handler answering a constant poll-sized JSON body
// with the same headers), `poll` (Tidings /poll with a cursor at the channel's position: an empty answer),
// `behind` (Tidings /poll one message behind: a read and a one-frame answer), `longpoll` (Tidings
// /longpoll woken by a message published every millisecond). 20 keep-alive clients in this process ask
// in a closed loop; the child's CPU over the window ÷ requests is the figure. Compare kinds of one run.
import { fork } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const KINDS = ['bare', 'poll', 'behind', 'longpoll'] as const;
type Kind = (typeof KINDS)[number];
const CLIENTS = 20;

async function serve(kind: Kind): Promise<void> {
  const http = createServer();
  let path = '/';
  if (kind === 'bare') {
    const body = '{"frames":[],"cursor":"c=Abc:1"}';
    http.on('request', (_req, res) => {
      res.writeHead(200, {
        'cache-control': 'no-store',
        'tidings-limits': 'maxMessageBytes=65536, maxFrameBytes=131072',
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  } else {
    const { createHub, attach } = await import('@tidings/server');
    const hub = createHub();
    attach(http, { hub, limits: { maxConnectionsPerIdentity: Number.POSITIVE_INFINITY } });
    await hub.publish('c', 1);
    // A subscriber keeps the channel's stream live, so its position is known without a read.
    hub.subscribe('c', () => {});
    const { epoch, offset } = await hub.publish('c', 2);
    if (kind === 'longpoll') {
      setInterval(() => void hub.publish('c', 3), 1).unref();
      path = '/tidings/longpoll?channel=c&wait=25000';
    } else {
      path = `/tidings/poll?channel=c&cursor=c=${epoch}:${kind === 'behind' ? offset - 1 : offset}`;
    }
  }
  http.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (http.address() as AddressInfo).port, path });
  });
  process.on('message', () => process.send?.({ cpu: process.cpuUsage() }));
  process.on('disconnect', () => process.exit(0));
}

async function measure(kind: Kind, seconds: number): Promise<void> {
  const child = fork(new URL(import.meta.url).pathname, ['--serve', kind], {
    execArgv: ['--conditions=@tidings/source', '--import', 'tsx'],
  });
  const { port, path } = await new Promise<{ port: number; path: string }>((resolve) =>
    child.once('message', resolve as (message: unknown) => void),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const get = (cursor: string | undefined) =>
    new Promise<string | undefined>((resolve, reject) => {
      const url = cursor === undefined ? path : `${path}&cursor=${encodeURIComponent(cursor)}`;
      const req = request({ host: '127.0.0.1', port, path: url, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve(kind === 'longpoll' ? (JSON.parse(text) as { cursor: string }).cursor : undefined),
        );
      });
      req.on('error', reject);
      req.end();
    });
  const cpu = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message) => {
        const { user, system } = (message as { cpu: NodeJS.CpuUsage }).cpu;
        resolve(user + system);
      });
      child.send('cpu');
    });
  const run = async (ms: number) => {
    const until = Date.now() + ms;
    const loop = async () => {
      let n = 0;
      let cursor: string | undefined;
      while (Date.now() < until) {
        cursor = await get(cursor);
        n++;
      }
      return n;
    };
    const counts = await Promise.all(Array.from({ length: CLIENTS }, loop));
    return counts.reduce((a, b) => a + b, 0);
  };
  await run(1_500);
  const before = await cpu();
  const requests = await run(seconds * 1000);
  const used = (await cpu()) - before;
  console.log(
    `${kind.padEnd(8)} ${String(requests).padStart(7)} requests  ${(used / requests).toFixed(1)} µs server CPU per request`,
  );
  child.disconnect();
  agent.destroy();
}

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    kinds: { type: 'string', default: KINDS.join(',') },
    seconds: { type: 'string', default: '4' },
  },
});
if (values.serve !== undefined) await serve(values.serve as Kind);
else {
  for (const kind of values.kinds.split(',') as Kind[]) {
    if (!KINDS.includes(kind)) throw new Error(`--kinds: one of ${KINDS.join(', ')}`);
    await measure(kind, Number(values.seconds));
  }
}
