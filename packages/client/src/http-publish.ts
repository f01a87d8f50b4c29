import {
  ContentType,
  Endpoint,
  ErrorCode,
  FrameType,
  Header,
  type PublishFrame,
  type ServerFrame,
} from '@tidings/protocol';
import { parseSizeLimits } from './size-limits.js';
import type { TransportHost } from './transport.js';

const PAYLOAD_TOO_LARGE = 413;

/**
 * Publishes with `POST /publish`, the HTTP transports' way, and hands the `ack` or `error` back as the
 * WebSocket would, with the frame's id. A network failure closes the transport: the client reconnects
 * and sends the publish again with the same idempotency key (in the body), so it is stored once.
 */
export function httpPublish(host: TransportHost, { type, id, ...body }: PublishFrame): void {
  host.platform.fetch!(host.url(Endpoint.publish), {
    method: 'POST',
    headers: { 'content-type': ContentType.json },
    body: JSON.stringify(body),
  })
    .then(async (response): Promise<ServerFrame> => {
      host.limits(parseSizeLimits(response.headers.get(Header.limits)));
      try {
        return await response.json();
      } catch (error) {
        // A proxy's own "too large" page: sending it again cannot help.
        if (response.status !== PAYLOAD_TOO_LARGE) throw error;
        return { type: FrameType.error, code: ErrorCode.frameTooLarge, message: '413' };
      }
    })
    .then(
      (frame) => host.frame({ ...frame, id } as ServerFrame),
      () => host.close(),
    );
}
