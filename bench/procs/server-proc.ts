import { readFileSync } from 'node:fs';
import type { FromServer, ToServer } from '../lib/ipc.js';
import { benchData, now, padding } from '../lib/payload.js';
import { Publisher } from '../lib/publisher.js';
import { findTarget } from '../targets/index.js';
import { type BenchServer, TargetUnavailable } from '../targets/target.js';

/**
 * The server process: runs one target's server and its publisher, and reports its own CPU and memory.
 * Nothing else runs here, so those figures belong to the target alone.
 */
let server: BenchServer | undefined;
let publisher: Publisher | undefined;
const primePad = padding(100);

function send(message: FromServer): void {
  process.send?.(message);
}

function sample(gc: boolean): FromServer {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    collect();
    collect();
  }
  const cpu = process.cpuUsage();
  const syscalls = syscallCounts();
  const memory = process.memoryUsage();
  return {
    type: 'sample',
    cpuUs: cpu.user + cpu.system,
    ...syscalls,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    at: now(),
    uptime: process.uptime(),
  };
}

/**
 * This process's read and write system calls so far (Linux `/proc/self/io`: `syscr`, `syscw`; write and
 * writev on a socket are both counted), or nothing where that file does not exist. A server that
 * coalesces frames makes fewer writes per delivery; this shows how many.
 */
function syscallCounts(): { syscr?: number; syscw?: number } {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'utf8');
  } catch {
    return {};
  }
  const field = (name: string) => {
    const match = new RegExp(`^${name}: (\\d+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  return { syscr: field('syscr'), syscw: field('syscw') };
}

async function handle(message: ToServer): Promise<void> {
  switch (message.type) {
    case 'start': {
      try {
        const start = await findTarget(message.target).server();
        server = await start({ writeDelayMs: message.writeDelayMs });
        send({ type: 'listening', port: server.port, writeDelayMs: server.writeDelayMs });
      } catch (error) {
        if (error instanceof TargetUnavailable) send({ type: 'unavailable', reason: error.message });
        else throw error;
      }
      break;
    }
    case 'sample':
      send(sample(message.gc));
      break;
    case 'prime':
      for (const channel of message.channels) {
        Promise.resolve(server?.publish(channel, benchData(0, primePad))).catch(() => {});
      }
      break;
    case 'run':
      if (!server) throw new Error('run before start');
      publisher = new Publisher(server, message.plan, (result) => send({ type: 'published', ...result }));
      publisher.start();
      break;
    case 'credit':
      publisher?.setCredit(message.delivered);
      break;
    case 'broadcast':
      if (!server) throw new Error('broadcast before start');
      Promise.resolve(
        server.publish(message.channel, benchData(message.n, padding(message.payloadBytes))),
      ).catch((error: Error) => send({ type: 'failed', reason: `broadcast ${message.n}: ${error.message}` }));
      break;
    case 'close':
      await server?.close();
      process.exit(0);
  }
}

// The orchestrator going away (crash, SIGKILL) closes the IPC channel: never outlive it.
process.on('disconnect', () => process.exit(1));
process.on('message', (message: ToServer) => {
  handle(message).catch((error: Error) => send({ type: 'failed', reason: error.stack ?? error.message }));
});
