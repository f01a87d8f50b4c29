import { io } from 'socket.io-client';
import type { BenchClient, ClientOptions } from '../targets/target.js';

/** Subscriber of the Socket.IO target: one connection each (`forceNew`), WebSocket transport only. */
export function connectSocketIo(options: ClientOptions): Promise<BenchClient> {
  const socket = io(`http://127.0.0.1:${options.port}`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    query: { channel: options.channel },
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
