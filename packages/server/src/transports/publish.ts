import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ErrorCode,
  FrameType,
  Header,
  type PublishFrame,
  TidingsError,
  validateClientFrame,
} from '@tidings/protocol';
import { authorizePublish } from '../auth.js';
import { readBody } from '../http/body.js';
import { assertVersion } from '../http/query.js';
import { sendJson } from '../http/respond.js';
import { authenticateRequest, shuttingDown } from './admit.js';
import type { ServerContext } from './context.js';
import { ack } from './frames.js';
import { limitsHeader } from './size-limits.js';

/**
 * `POST <mount>/publish`: the fields of a `publish` frame as a JSON body, validated exactly like the
 * frame. Rate-limited per identity and address, since there is no connection to count against.
 */
export async function servePublish(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  // Every answer says what the server accepts, so an HTTP client can check its next publishes itself.
  const headers = { ...context.origins.headers(request), [Header.limits]: limitsHeader(context) };
  try {
    if (context.closing) throw shuttingDown();
    assertVersion(query);
    const identity = await authenticateRequest(context, request, query);
    const { limits } = context;
    const body = await readBody(request, limits.maxFrameBytes, limits.requestTimeoutMs);
    const frame = parseBody(body, request.headers[Header.idempotencyKey]);
    if (!context.publishLimiters.take(`${identity.id}\n${request.socket.remoteAddress}`)) {
      throw new TidingsError(ErrorCode.rateLimited, 'too many publishes: slow down');
    }
    await authorizePublish(context.hooks, identity, frame.channel, frame.data);
    const published = await context.hub.publish(frame.channel, frame.data, {
      id: frame.key,
      ifOffset: frame.ifOffset,
      ttl: frame.ttl,
    });
    sendJson(response, 200, ack(published), headers);
  } catch (error) {
    // A body far too large is left unread: close the connection rather than drain it.
    const unread =
      error instanceof TidingsError && error.code === ErrorCode.frameTooLarge && !request.complete;
    context.sendError(response, error, unread ? { ...headers, connection: 'close' } : headers);
  }
}

function parseBody(body: Buffer, idempotencyKey: string | string[] | undefined): PublishFrame {
  let value: unknown;
  try {
    value = JSON.parse(body.toString());
  } catch {
    throw new TidingsError(ErrorCode.malformedFrame, 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TidingsError(ErrorCode.malformedFrame, 'the body must be a JSON object');
  }
  // `type` and `id` belong to the frame, not to this request: whatever the body says is ignored.
  const { id: _id, ...fields } = value as Record<string, unknown>;
  if (idempotencyKey !== undefined) {
    if (fields.key !== undefined && fields.key !== idempotencyKey) {
      throw new TidingsError(ErrorCode.invalidField, 'the body "key" and the Idempotency-Key header differ', {
        field: 'key',
      });
    }
    fields.key = idempotencyKey;
  }
  return validateClientFrame({ ...fields, type: FrameType.publish }) as PublishFrame;
}
