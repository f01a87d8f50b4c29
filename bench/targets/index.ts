import type { Target } from './target.js';
import { tidingsUnavailable } from './tidings-server.js';

const always = async () => null;

/**
 * Every target, in report order. Modules are imported lazily so the server process never loads client
 * code and the load processes never load server code.
 */
export const targets: readonly Target[] = [
  {
    name: 'ws',
    tidings: false,
    unavailable: always,
    server: async () => (await import('./ws-server.js')).startWsServer,
    client: async () => (await import('../clients/ws-client.js')).connectWs,
  },
  {
    name: 'socketio',
    tidings: false,
    unavailable: always,
    server: async () => (await import('./socketio-server.js')).startSocketIoServer,
    client: async () => (await import('../clients/socketio-client.js')).connectSocketIo,
  },
  {
    name: 'socketio-polling',
    tidings: false,
    unavailable: always,
    server: async () => (await import('./socketio-server.js')).startSocketIoPollingServer,
    client: async () => (await import('../clients/socketio-client.js')).connectSocketIoPolling,
  },
  {
    name: 'sse',
    tidings: false,
    unavailable: always,
    server: async () => (await import('./sse-server.js')).startSseServer,
    client: async () => (await import('../clients/sse-client.js')).connectSse,
  },
  {
    name: 'tidings-ws',
    tidings: true,
    unavailable: tidingsUnavailable,
    server: async () => (await import('./tidings-server.js')).startTidingsServer,
    client: async () => (await import('../clients/tidings-ws-client.js')).connectTidingsWs,
  },
  {
    name: 'tidings-sse',
    tidings: true,
    unavailable: tidingsUnavailable,
    server: async () => (await import('./tidings-server.js')).startTidingsServer,
    client: async () => (await import('../clients/tidings-sse-client.js')).connectTidingsSse,
  },
  {
    name: 'tidings-stream',
    tidings: true,
    unavailable: tidingsUnavailable,
    server: async () => (await import('./tidings-server.js')).startTidingsServer,
    client: async () => (await import('../clients/tidings-stream-client.js')).connectTidingsStream,
  },
  {
    name: 'tidings-longpoll',
    tidings: true,
    unavailable: tidingsUnavailable,
    server: async () => (await import('./tidings-server.js')).startTidingsServer,
    client: async () => (await import('../clients/tidings-poll-client.js')).connectTidingsLongpoll,
  },
  {
    name: 'tidings-poll',
    tidings: true,
    unavailable: tidingsUnavailable,
    server: async () => (await import('./tidings-server.js')).startTidingsServer,
    client: async () => (await import('../clients/tidings-poll-client.js')).connectTidingsPoll,
  },
];

export function findTarget(name: string): Target {
  const target = targets.find((t) => t.name === name);
  if (!target) throw new Error(`unknown target "${name}" (known: ${targets.map((t) => t.name).join(', ')})`);
  return target;
}
