import type { IncomingMessage } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * A body over the limit by at most this factor is read to its end (and dropped) before the answer, so
 * the client, still sending, gets to read the FRAME_TOO_LARGE answer rather than a reset connection.
 */
const DRAIN_FACTOR = 4;

/**
 * Reads a request body of at most `maxBytes`, within `timeoutMs`; rejects with FRAME_TOO_LARGE or TIMEOUT.
 * After a FRAME_TOO_LARGE, `request.complete` tells whether the body was drained (the connection can
 * be kept) or left unread (close it).
 */
export function readBody(request: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const tooLarge = () =>
    new TidingsError(ErrorCode.frameTooLarge, `request body larger than ${maxBytes} bytes`, {
      limit: maxBytes,
    });
  const drainBytes = DRAIN_FACTOR * maxBytes;
  const declared = Number(request.headers['content-length']);
  if (declared > drainBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => finish(new TidingsError(ErrorCode.timeout, `request body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error?: TidingsError) => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > drainBytes) finish(tooLarge());
      else if (size <= maxBytes) chunks.push(chunk);
    };
    const onEnd = () => finish(size > maxBytes ? tooLarge() : undefined);
    const onError = () =>
      finish(new TidingsError(ErrorCode.malformedFrame, 'request body could not be read'));
    const onAborted = () => finish(new TidingsError(ErrorCode.malformedFrame, 'request aborted'));
    request.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}
