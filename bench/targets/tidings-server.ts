import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BenchServer } from './target.js';
import { TargetUnavailable } from './target.js';

/**
 * The server of the tidings-ws, tidings-sse and tidings-stream targets: one hub on the in-memory
 * engine, mounted on a plain node:http server at the default path, publishing in-process like the
 * baselines do. One server serves all three transports; the target only picks the subscriber client.
 *
 * The hub's API was still being written when this harness was, so it is reached through a dynamic
 * import and checked at run time. Expected shape (adjust here, and only here, when it settles):
 *   createHub(options?) → { publish(channel, data): Promise<…>, close(): Promise<void> }
 *   attach(hub, httpServer, options?) mounts /tidings/ws, /tidings/sse, /tidings/stream, …
 */
const MODULE = '@tidings/server';

type Fn = (...args: unknown[]) => unknown;
interface HubLike {
  publish: Fn;
  close?: Fn;
}

async function loadTidings(): Promise<{ createHub: Fn; attach: Fn }> {
  let mod: Record<string, unknown>;
  try {
    // A variable specifier keeps the type checker from resolving a package that may not exist yet.
    mod = (await import(MODULE)) as Record<string, unknown>;
  } catch (error) {
    throw new TargetUnavailable(`${MODULE}: not available yet (${(error as Error).message.split('\n')[0]})`);
  }
  const { createHub, attach } = mod;
  if (typeof createHub !== 'function' || typeof attach !== 'function') {
    throw new TargetUnavailable(`${MODULE}: not available yet (no createHub/attach export)`);
  }
  return { createHub: createHub as Fn, attach: attach as Fn };
}

/** Null when the Tidings server looks usable, otherwise why not. */
export async function tidingsUnavailable(): Promise<string | null> {
  try {
    await loadTidings();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export async function startTidingsServer(): Promise<BenchServer> {
  const { createHub, attach } = await loadTidings();
  const hub = (await createHub()) as HubLike;
  if (typeof hub?.publish !== 'function') throw new TargetUnavailable(`${MODULE}: hub has no publish()`);
  const http: Server = createServer();
  const detach = await attach(hub, http);

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    publish(channel, data) {
      return hub.publish(channel, data);
    },
    async close() {
      if (typeof detach === 'function') await detach();
      await hub.close?.();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
