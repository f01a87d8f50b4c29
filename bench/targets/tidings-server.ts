import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BenchServer, ServerOptions } from './target.js';
import { TargetUnavailable } from './target.js';

/**
 * The server of the tidings-ws, tidings-sse and tidings-stream targets: one hub on the in-memory
 * engine, attached to a plain node:http server at the default mount path, publishing in-process like
 * the baselines do. One server serves all three transports; the target only picks the subscriber client.
 */
type TidingsModule = typeof import('@tidings/server');

const MODULE = '@tidings/server';

async function loadTidings(): Promise<TidingsModule> {
  let mod: TidingsModule;
  try {
    mod = (await import(MODULE)) as TidingsModule;
  } catch (error) {
    throw new TargetUnavailable(`${MODULE}: not available (${(error as Error).message.split('\n')[0]})`);
  }
  // The package existed before its transports did: without attach() there is nothing to subscribe to.
  if (typeof mod.createHub !== 'function' || typeof mod.attach !== 'function') {
    throw new TargetUnavailable(`${MODULE}: not available yet (no createHub/attach export)`);
  }
  return mod;
}

/** Null when the Tidings server can run here, otherwise why not. */
export async function tidingsUnavailable(): Promise<string | null> {
  try {
    await loadTidings();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export async function startTidingsServer(options: ServerOptions): Promise<BenchServer> {
  const { createHub, attach, DEFAULT_WRITE_DELAY_MS } = await loadTidings();
  const writeDelayMs = options.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS;
  // History must outlast a mass reconnect: 1,000 clients can take 2 s to get back, which at 50 msg/s is
  // the whole default history (100 messages); a resume past it is a reset, not a continuation.
  const hub = createHub({ defaultHistory: { size: 10_000 } });
  const http = createServer();
  // The bench's 1,000 subscribers are one anonymous client address: no per-address connection cap.
  const tidings = attach(http, {
    hub,
    limits: { maxConnectionsPerIdentity: Number.POSITIVE_INFINITY },
    writeDelayMs,
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    writeDelayMs,
    publish(channel, data) {
      return hub.publish(channel, data);
    },
    async close() {
      await tidings.close({ deadlineMs: 200, closeHub: true });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
