import { Agent } from 'node:http';
import { io } from 'socket.io-client';
import type { BenchClient, ClientOptions } from '../targets/target.js';

type Transport = 'websocket' | 'polling';

/**
 * In Node, socket.io-client's polling opens a new TCP connection per request unless given an agent
 * (xmlhttprequest-ssl uses `agent: false`); a browser keeps its connections alive, and so do the
 * Tidings poll subscribers: the same keep-alive agent here.
 */
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

/** Subscriber of the Socket.IO targets: one connection each (`forceNew`), over one transport only. */
function connect(options: ClientOptions, transport: Transport): Promise<BenchClient> {
  const socket = io(`http://127.0.0.1:${options.port}`, {
    transports: [transport],
    forceNew: true,
    reconnection: false,
    query: { channel: options.channel },
    // Typed as string | boolean, handed as is to the XMLHttpRequest of Node (http.request's `agent`).
    ...(transport === 'polling' ? { agent: agent as unknown as string } : {}),
  });
  return new Promise((resolve, reject) => {
    let ready = false;
    socket.on('ok', () => {
      ready = true;
      resolve({ close: () => socket.disconnect() });
    });
    socket.on('m', (data: { n: number; sent: number }) => options.onMessage(data.n, data.sent));
    socket.on('connect_error', (error) => (ready ? options.onClose(error.message) : reject(error)));
    socket.on('disconnect', (reason) => {
      if (ready) options.onClose(reason);
      else reject(new Error(`disconnected before ok: ${reason}`));
    });
  });
}

/** `socketio`: WebSocket transport only. */
export function connectSocketIo(options: ClientOptions): Promise<BenchClient> {
  return connect(options, 'websocket');
}

/** `socketio-polling`: HTTP long-polling only; the client polls again as soon as an answer arrives. */
export function connectSocketIoPolling(options: ClientOptions): Promise<BenchClient> {
  return connect(options, 'polling');
}
