import { type ErrorFrame, FrameType, TidingsError } from '@tidings/protocol';

/**
 * GETs an endpoint's JSON answer. The server's `error` frame rejects as its TidingsError; a network
 * failure (or a proxy's page) rejects with anything else, which callers read as a lost connection.
 */
export async function httpGet<T>(fetch: typeof globalThis.fetch, url: string): Promise<T> {
  const body = (await (await fetch(url)).json()) as T | ErrorFrame;
  if ((body as ErrorFrame).type === FrameType.error) {
    const { code, message, details } = body as ErrorFrame;
    throw new TidingsError(code, message, details);
  }
  return body as T;
}
