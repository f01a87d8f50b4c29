import { CLOSE_CODE_BASE, type ClientFrame, Endpoint, FrameType, type ServerFrame } from '@tidings/protocol';
import { errorOf } from '../checks.js';
import { nextRequestId } from '../request-id.js';
import type { AskFrame, ChannelSpec, TransportKind } from '../transport.js';

interface WebSocketLike {
  readyState: number;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

const OPEN = 1;
const NORMAL_CLOSURE = 1000;
/** The other side refused a frame too large to even read. */
const MESSAGE_TOO_BIG = 1009;

/**
 * The WebSocket transport: frames both ways on one connection. It counts as open only at `welcome`,
 * so a proxy that accepts the upgrade and then cuts the connection reads as a failure to connect.
 */
export const websocket: TransportKind = {
  needs: 'WebSocket',
  open(host) {
    const url = host.url(Endpoint.websocket).replace(/^http/, 'ws');
    const socket = new host.platform.WebSocket!(url) as WebSocketLike;
    // A close event always follows; without a listener the `ws` package would throw the error instead.
    socket.onerror = () => {};
    // Subscribe requests in flight, so an error reply can name its channel.
    const requests = new Map<number, string>();
    // Presence and history requests in flight: their replies and errors are answers, not frames for the client.
    const asks = new Map<number, { resolve(frame: ServerFrame): void; reject(error?: unknown): void }>();
    let welcomed = false;
    const lose = (): void => {
      for (const ask of asks.values()) ask.reject();
      asks.clear();
    };

    const send = (frame: ClientFrame): void => {
      if (welcomed && socket.readyState === OPEN) socket.send(JSON.stringify(frame));
    };
    const subscribe = ({ channel, since }: ChannelSpec): void => {
      const id = nextRequestId();
      requests.set(id, channel);
      send({ type: FrameType.subscribe, id, channel, since });
    };

    socket.onmessage = ({ data }) => {
      const frame = JSON.parse(String(data)) as ServerFrame;
      // Request ids are unique to the client: only an ask's answer carries an ask's id.
      const id = (frame as { id?: number }).id!;
      const ask = asks.get(id);
      if (ask) {
        asks.delete(id);
        if (frame.type === FrameType.error) ask.reject(errorOf(frame));
        else ask.resolve(frame);
        return;
      }
      switch (frame.type) {
        case FrameType.welcome:
          welcomed = true;
          host.limits(frame);
          for (const spec of host.channels()) subscribe(spec);
          return host.open(frame.heartbeat);
        case FrameType.ping:
          send({ type: FrameType.pong });
          break;
        case FrameType.subscribed:
        case FrameType.error:
          if (frame.id !== undefined && requests.has(frame.id)) {
            if (frame.type === FrameType.error) frame.channel ??= requests.get(frame.id);
            requests.delete(frame.id);
          }
      }
      host.frame(frame);
    };
    socket.onclose = ({ code, reason }) => {
      lose();
      // The `disconnect` frame that says why came first (the client acts on it); without one, the close code tells.
      host.close(
        code >= CLOSE_CODE_BASE
          ? { code: reason, message: reason }
          : code === MESSAGE_TOO_BIG
            ? { frameTooLarge: true }
            : undefined,
      );
    };

    return {
      subscribe,
      unsubscribe: (channel) => send({ type: FrameType.unsubscribe, channel }),
      publish: send,
      refresh: (token) => send({ type: FrameType.refresh, id: nextRequestId(), token }),
      ask: <T>(frame: AskFrame) =>
        new Promise<T>((resolve, reject) => {
          if (!welcomed || socket.readyState !== OPEN) return reject();
          asks.set(frame.id!, { resolve: resolve as (frame: ServerFrame) => void, reject });
          send(frame);
        }),
      close() {
        lose();
        socket.onclose = socket.onmessage = null;
        socket.close(NORMAL_CLOSURE);
      },
    };
  },
};
