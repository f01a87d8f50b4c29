import { Endpoint, type PresenceFrame, type PresenceMember, Query } from '@tidings/protocol';
import { httpGet } from './http-get.js';
import type { TransportHost } from './transport.js';

/** Asks `GET /presence`, the HTTP transports' way; a network failure rejects with a plain Error (lost). */
export async function httpPresence(host: TransportHost, channel: string): Promise<PresenceMember[]> {
  const url = host.url(Endpoint.presence, [[Query.channel, channel]]);
  return (await httpGet<PresenceFrame>(host.platform.fetch!, url)).members;
}
