import { WebSocket } from 'ws';
import type { BenchClient, ClientOptions } from '../targets/target.js';

/** Subscriber of the bare `ws` target: the server says `ok` once the socket is in its room. */
export function connectWs(options: ClientOptions): Promise<BenchClient> {
  const url = `ws://127.0.0.1:${options.port}/?channel=${encodeURIComponent(options.channel)}`;
  const socket = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    let ready = false;
    socket.on('message', (raw) => {
      const text = raw.toString();
      if (!ready) {
        ready = text === 'ok';
        if (ready) resolve({ close: () => socket.terminate() });
        return;
      }
      const data = JSON.parse(text);
      options.onMessage(data.n, data.sent);
    });
    socket.on('error', (error) => (ready ? options.onClose(error.message) : reject(error)));
    socket.on('close', (code) => {
      if (ready) options.onClose(`closed ${code}`);
      else reject(new Error(`closed ${code} before ok`));
    });
  });
}
