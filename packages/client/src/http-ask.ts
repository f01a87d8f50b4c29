import { Endpoint, type Position } from '@tidings/protocol';
import { httpGet } from './http-get.js';
import type { AskFrame, TransportHost } from './transport.js';

/**
 * Asks a request frame's endpoint (`GET /presence`, `GET /history`), the HTTP transports' way: its
 * fields as the query (their names are the `Query` ones: channel, since, before, limit). A network failure rejects with a plain Error (lost).
 */
export function httpAsk<T>(host: TransportHost, { type, id, ...fields }: AskFrame): Promise<T> {
  const params: [string, string][] = [];
  for (const [name, value] of Object.entries(fields) as [string, Position | string | number][]) {
    // A position as a cursor entry writes it.
    if (value != null) {
      params.push([name, typeof value === 'object' ? `${value.epoch}:${value.offset}` : `${value}`]);
    }
  }
  return httpGet<T>(host.platform.fetch!, host.url(Endpoint[type], params));
}
