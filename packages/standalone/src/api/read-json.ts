import type { IncomingMessage } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * Reads a JSON request body of at most `maxBytes` within `timeoutMs`. Rejects with FRAME_TOO_LARGE,
 * TIMEOUT or MALFORMED_FRAME; a body too large is not read further.
 */
export async function readJson(
  request: IncomingMessage,
  maxBytes: number,
  timeoutMs: number,
): Promise<unknown> {
  const text = await readText(request, maxBytes, timeoutMs);
  try {
    return JSON.parse(text);
  } catch {
    throw new TidingsError(ErrorCode.malformedFrame, 'the body is not valid JSON');
  }
}

/** Reads a request body as UTF-8 text, with the limits and errors of `readJson`. */
export function readText(request: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<string> {
  const tooLarge = () =>
    new TidingsError(ErrorCode.frameTooLarge, `request body larger than ${maxBytes} bytes`);
  if (Number(request.headers['content-length']) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => done(new TidingsError(ErrorCode.timeout, `request body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (error?: TidingsError) => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('error', onError);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = () => done(new TidingsError(ErrorCode.malformedFrame, 'the body could not be read'));
    request.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
