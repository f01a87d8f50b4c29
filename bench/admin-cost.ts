// What the dashboard's live view costs the server: CPU of a `tidings serve` process under a steady
// fan-out load, alternating phases with no dashboard, one dashboard open in Chromium, and ten more
// live views (SSE readers) besides. CPU is the server process's own (utime + stime from /proc).
//
//   npm run admin-cost --workspace bench -- [--subs 200] [--channels 20] [--rate 400] [--seconds 20]
//                                           [--rounds 2] [--screenshot docs/admin.png]
//
// Prints one line per phase and a summary (median per phase over the rounds): a shared machine is noisy.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Client, connect } from '@tidings/client';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { buildAdmin } from '../packages/standalone/scripts/build-admin.mjs';

const { values } = parseArgs({
  options: {
    subs: { type: 'string', default: '200' },
    channels: { type: 'string', default: '20' },
    rate: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    screenshot: { type: 'string' },
  },
});
const SUBS = Number(values.subs);
const CHANNELS = Number(values.channels);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PASSWORD = 'bench-admin-password';
const root = new URL('..', import.meta.url).pathname;

await buildAdmin();
const { child, url } = await serve();
const cpu = () => {
  // Fields 14 and 15 of /proc/<pid>/stat: user and system time in clock ticks (100 per second).
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const clients: Client[] = [];
let delivered = 0;
for (let i = 0; i < SUBS; i++) {
  const client = connect(url, { WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
  client.subscribe(`load.${i % CHANNELS}`, () => delivered++);
  clients.push(client);
}
const publisher = connect(url, { WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
let sent = 0;
let failed = 0;
let lastError: unknown;
const load = setInterval(() => {
  for (let i = 0; i < RATE / 100; i++) {
    publisher.publish(`load.${sent % CHANNELS}`, { n: sent, pad: 'x'.repeat(80) }).catch((error) => {
      failed++;
      lastError = error;
    });
    sent++;
  }
}, 10);
await new Promise((resolve) => setTimeout(resolve, 3_000));
const connected = clients.filter((client) => client.state === 'connected').length;
console.log(`${connected}/${SUBS} subscribers connected; ${sent} sent, ${failed} failed ${lastError ?? ''}`);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const results: Record<string, number[]> = { none: [], chromium: [], 'chromium + 10 SSE': [] };

for (let round = 0; round < ROUNDS; round++) {
  await phase('none');
  const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await tab.goto(`${url}/admin`);
  await tab.fill('#secret', PASSWORD);
  await tab.click('button[type=submit]');
  await tab.waitForSelector('#card-connections');
  await phase('chromium');
  const readers = await Promise.all(Array.from({ length: 10 }, () => liveView()));
  await phase('chromium + 10 SSE');
  for (const stop of readers) stop();
  if (round === ROUNDS - 1 && values.screenshot) {
    await tab.click('a[data-channel="load.0"]');
    await tab.waitForSelector('#history li');
    await tab.screenshot({ path: values.screenshot });
    console.log(`screenshot: ${values.screenshot}`);
  }
  await tab.close();
}

console.log(
  `\nserver CPU, % of one core (median of ${ROUNDS}); load: ${SUBS} subscribers on ${CHANNELS} channels, ${RATE} msg/s`,
);
for (const [name, list] of Object.entries(results)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(
    `  ${name.padEnd(20)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}   (${list.map((v) => v.toFixed(1)).join(', ')})`,
  );
}

clearInterval(load);
await browser.close();
for (const client of [...clients, publisher]) client.close();
child.kill('SIGTERM');

async function phase(name: string): Promise<void> {
  // A second to settle, then the measured window.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const [cpu0, t0, d0] = [cpu(), performance.now(), delivered];
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1_000));
  const percent = ((cpu() - cpu0) / (performance.now() - t0)) * 100;
  const perS = ((delivered - d0) / (performance.now() - t0)) * 1_000;
  results[name]!.push(percent);
  console.log(
    `${name.padEnd(20)} server CPU ${percent.toFixed(1)}%  deliveries ${Math.round(perS)}/s  load avg ${loadavg()[0]!.toFixed(2)}`,
  );
}

/** One more live view, as a second operator's browser would hold it; returns how to close it. */
async function liveView(): Promise<() => void> {
  const login = await fetch(`${url}/admin/login`, {
    method: 'POST',
    headers: { origin: url },
    body: new URLSearchParams({ secret: PASSWORD }),
    redirect: 'manual',
  });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await fetch(`${url}/admin`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]+)"/.exec(page)![1]!;
  const controller = new AbortController();
  const response = await fetch(`${url}/admin/events?csrf=${encodeURIComponent(csrf)}`, {
    headers: { cookie },
    signal: controller.signal,
  });
  // Read (and drop) every frame, as a page would.
  void (async () => {
    const reader = response.body!.getReader();
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  return () => controller.abort();
}

function serve(): Promise<{ child: ChildProcess; url: string }> {
  // The load comes from one address and one publisher: lift the per-identity limits above it.
  const config = join(mkdtempSync(join(tmpdir(), 'tidings-bench-')), 'tidings.json');
  writeFileSync(
    config,
    JSON.stringify({
      limits: { maxConnectionsPerIdentity: SUBS + 10, publishRate: { perSecond: RATE * 2, burst: RATE * 2 } },
    }),
  );
  const child = spawn(
    process.execPath,
    ['--conditions=@tidings/source', '--import', 'tsx', `${root}packages/standalone/bin/tidings.js`, 'serve'],
    {
      cwd: root,
      env: {
        ...process.env,
        TIDINGS_CONFIG: config,
        TIDINGS_PORT: '0',
        TIDINGS_HOST: '127.0.0.1',
        TIDINGS_ENGINE: 'memory',
        TIDINGS_PUBLISH: 'true',
        TIDINGS_ADMIN_PASSWORD: PASSWORD,
        TIDINGS_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.once('exit', (code) => reject(new Error(`tidings serve exited (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk;
      for (const line of buffer.split('\n').slice(0, -1)) {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening') resolve({ child, url: entry.url! });
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    });
  });
}
