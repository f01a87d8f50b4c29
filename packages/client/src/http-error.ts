import { ErrorCode, type ErrorFrame, FrameType } from '@tidings/protocol';
import type { CloseInfo, TransportHost } from './transport.js';

export interface HttpFailure extends CloseInfo {
  channel?: string;
}

/** Why an HTTP request failed. A body that is not an `error` frame (a proxy's page) means a plain failure. */
export async function httpError(response: Response): Promise<HttpFailure> {
  try {
    const frame = (await response.json()) as ErrorFrame;
    if (frame.type === FrameType.error)
      return { code: frame.code, message: frame.message, channel: frame.channel };
  } catch {}
  return {};
}

/**
 * Refusals of channels rather than of the connection: an error naming a channel, or a 403, which the
 * server answers only when it can serve none of the request's channels. Each refused channel gets an
 * `error` frame, so only its subscription fails; returns false when the connection itself was refused.
 */
export function refuseChannels(host: TransportHost, info: HttpFailure, channels: string[]): boolean {
  const refused = info.channel ? [info.channel] : info.code === ErrorCode.forbidden ? channels : [];
  for (const channel of refused) {
    host.frame({ type: FrameType.error, channel, code: info.code as ErrorCode, message: info.message ?? '' });
  }
  return refused.length > 0;
}
