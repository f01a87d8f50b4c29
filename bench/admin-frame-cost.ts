// The live view's own cost, isolated: CPU of an otherwise idle server process (in this process, memory
// engine, no clients) over 10 s with no dashboard and with one live view open, for a number of
// channels. Each frame lists the channels, sorts them and reads the positions of the 100 shown.
//
//   npm run admin-frame-cost --workspace bench -- [--channels 20,1000,10000] [--seconds 10]
import { parseArgs } from 'node:util';
import { buildAdmin } from '../packages/standalone/scripts/build-admin.mjs';
import { validateConfig } from '../packages/standalone/src/config/load.js';
import { createLogger } from '../packages/standalone/src/logger.js';
import { startStandalone } from '../packages/standalone/src/standalone.js';

const { values } = parseArgs({
  options: {
    channels: { type: 'string', default: '20,1000,10000' },
    seconds: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(values.seconds);
const PASSWORD = 'bench-admin-password';
await buildAdmin();

for (const channels of values.channels.split(',').map(Number)) {
  const server = await startStandalone(
    validateConfig({ host: '127.0.0.1', port: 0, engine: { type: 'memory' }, adminPassword: PASSWORD }),
    { logger: createLogger('silent') },
  );
  for (let i = 0; i < channels; i++) await server.hub.publish(`c.${i}`, { i });
  const idle = await measure();
  const stop = await liveView(server.url);
  const open = await measure();
  stop();
  await server.close();
  console.log(
    `${String(channels).padStart(6)} channels: idle ${idle.toFixed(2)}% → one dashboard open ${open.toFixed(2)}% of one core (+${(open - idle).toFixed(2)})`,
  );
}

async function measure(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const [cpu0, t0] = [process.cpuUsage(), performance.now()];
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1_000));
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) / 1_000 / (performance.now() - t0)) * 100;
}

async function liveView(url: string): Promise<() => void> {
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
  void (async () => {
    const reader = response.body!.getReader();
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  return () => controller.abort();
}
