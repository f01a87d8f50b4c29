import { DEFAULT_MOUNT_PATH, Endpoint, Query } from '@tidings/protocol';
import type { BenchClient, ClientOptions } from '../targets/target.js';
import { openHttpStream } from './http-stream.js';
import { lineParser } from './line-stream.js';
import { handleTidingsFrame, resumeCursor } from './tidings-frames.js';

/** Raw-protocol Tidings subscriber over HTTP streaming: newline-delimited JSON frames. */
export async function connectTidingsStream(options: ClientOptions): Promise<BenchClient> {
  const close = await openHttpStream({
    port: options.port,
    path:
      `${DEFAULT_MOUNT_PATH}${Endpoint.stream}?${Query.channel}=${encodeURIComponent(options.channel)}` +
      (options.since
        ? `&${Query.cursor}=${encodeURIComponent(resumeCursor(options.channel, options.since))}`
        : ''),
    onText: lineParser((line) => handleTidingsFrame(line, options)),
    onClose: options.onClose,
  });
  return { close };
}
