import { DEFAULT_MOUNT_PATH, Endpoint, FrameType, type SubscribeFrame } from '@tidings/protocol';
import { WebSocket } from 'ws';
import type { BenchClient, ClientOptions } from '../targets/target.js';
import { handleTidingsFrame } from './tidings-frames.js';

/** Raw-protocol Tidings subscriber over WebSocket: subscribe frame, then one JSON frame per message. */
export function connectTidingsWs(options: ClientOptions): Promise<BenchClient> {
  const socket = new WebSocket(`ws://127.0.0.1:${options.port}${DEFAULT_MOUNT_PATH}${Endpoint.websocket}`, {
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    let ready = false;
    const fail = (reason: string) => (ready ? options.onClose(reason) : reject(new Error(reason)));
    const guarded: ClientOptions = { ...options, onClose: fail };
    socket.on('open', () => {
      const subscribe: SubscribeFrame = { type: FrameType.subscribe, id: 1, channel: options.channel };
      if (options.since) subscribe.since = options.since;
      socket.send(JSON.stringify(subscribe));
    });
    socket.on('message', (raw) => {
      const frame = handleTidingsFrame(raw.toString(), guarded);
      if (frame.type === FrameType.ping) socket.send(JSON.stringify({ type: FrameType.pong }));
      else if (frame.type === FrameType.subscribed && !ready && frame.channel === options.channel) {
        ready = true;
        resolve({ close: () => socket.terminate() });
      }
    });
    socket.on('error', (error) => fail(error.message));
    socket.on('close', (code) => fail(`closed ${code}`));
  });
}
