import { FrameType, type ServerFrame } from '@tidings/protocol';
import type { ClientOptions } from '../targets/target.js';

/**
 * What every Tidings subscriber does with a server frame, whatever the transport: count `message`
 * frames of its channel, and treat `reset` / `error` / `disconnect` as the end of the subscription.
 * Returns the frame so a transport can react to the rest (subscribed, ping).
 */
export function handleTidingsFrame(text: string, options: ClientOptions): ServerFrame {
  return handleParsedFrame(JSON.parse(text) as ServerFrame, options);
}

/** The same for a frame already parsed (the poll transports get many in one JSON answer). */
export function handleParsedFrame(frame: ServerFrame, options: ClientOptions): ServerFrame {
  switch (frame.type) {
    case FrameType.message: {
      if (frame.channel !== options.channel) break;
      options.onPosition?.(frame.epoch, frame.offset);
      const data = frame.data as { n: number; sent: number };
      options.onMessage(data.n, data.sent);
      break;
    }
    case FrameType.reset:
      // The position was no longer in the server's history: what follows is not a continuation.
      if (frame.channel === options.channel)
        options.onClose(`reset frame: history no longer reaches the position`);
      break;
    case FrameType.error:
      options.onClose(`error frame ${frame.code}: ${frame.message}`);
      break;
    case FrameType.disconnect:
      options.onClose(`disconnect frame ${frame.code}: ${frame.reason}`);
      break;
  }
  return frame;
}

/** A one-channel cursor, `channel=epoch:offset`: what the HTTP transports resume from. */
export function resumeCursor(channel: string, since: { epoch: string; offset: number }): string {
  return `${channel}=${since.epoch}:${since.offset}`;
}
