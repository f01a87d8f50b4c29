import {
  Endpoint,
  type ErrorFrame,
  FrameType,
  type PresenceFrame,
  type PresenceMember,
  Query,
  TidingsError,
} from '@tidings/protocol';
import type { TransportHost } from './transport.js';

/** Asks `GET /presence`, the HTTP transports' way; a network failure rejects with a plain Error (lost). */
export async function httpPresence(host: TransportHost, channel: string): Promise<PresenceMember[]> {
  const response = await host.platform.fetch!(host.url(Endpoint.presence, [[Query.channel, channel]]));
  const frame = (await response.json()) as PresenceFrame | ErrorFrame;
  if (frame.type === FrameType.presence) return frame.members;
  throw new TidingsError(frame.code, frame.message, frame.details);
}
