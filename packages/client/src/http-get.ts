import { type ErrorFrame, FrameType } from '@tidings/protocol';
import { errorOf } from './checks.js';

/**
 * GETs an endpoint's JSON answer. The server's `error` frame rejects as its TidingsError; a network
 * failure (or a proxy's page) rejects with anything else, which callers read as a lost connection.
 */
export async function httpGet<T>(fetch: typeof globalThis.fetch, url: string): Promise<T> {
  const body = (await (await fetch(url)).json()) as T | ErrorFrame;
  if ((body as ErrorFrame).type === FrameType.error) throw errorOf(body as ErrorFrame);
  return body as T;
}
