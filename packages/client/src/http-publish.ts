import { ContentType, Endpoint, type PublishFrame, type ServerFrame } from '@tidings/protocol';
import type { TransportHost } from './transport.js';

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
    .then((response) => response.json())
    .then(
      (frame: ServerFrame) => host.frame({ ...frame, id } as ServerFrame),
      () => host.close(),
    );
}
