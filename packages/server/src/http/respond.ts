import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ContentType, httpStatus } from '@tidings/protocol';
import { error as errorFrame, toTidingsError } from '../transports/frames.js';

/** Every Tidings response: never cached (see docs/PROTOCOL.md, "Endpoints"). */
export const NO_STORE = { 'cache-control': 'no-store' } as const;

export function sendJson(
  res: ServerResponse,
  status: number,
  json: string,
  headers?: OutgoingHttpHeaders,
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...NO_STORE,
    ...headers,
    'content-type': `${ContentType.json}; charset=utf-8`,
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/** Answers with an `error` frame and the status of its code. */
export function sendError(res: ServerResponse, cause: unknown, headers?: OutgoingHttpHeaders): void {
  const error = toTidingsError(cause);
  sendJson(res, httpStatus(error.code), errorFrame(error), headers);
}
