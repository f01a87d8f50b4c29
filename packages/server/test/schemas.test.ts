// Runtime schemas (Standard Schema: zod here, and hand-written ones) on every way to publish: data
// that fails is refused with INVALID_DATA before anything is stored, and nobody else notices.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '@tidings/protocol';
import {
  createHub,
  type Hub,
  type HubOptions,
  type Message,
  type StandardSchemaV1,
  TidingsError,
} from '@tidings/server';
import { listen, waitFor } from '@tidings/server/testing';
import { z } from 'zod';
import { isMessage, publishHttp, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

const ChatLine = z.object({ user: z.string(), text: z.string().max(20) });

/** A hand-written Standard Schema, async: a positive `total`, answered after `delayMs`. */
function orderSchema(delayMs = 0): StandardSchemaV1<unknown, { id: string; total: number }> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: async (value) => {
        await sleep(
          typeof value === 'object' && value !== null && 'delay' in value ? Number(value.delay) : delayMs,
        );
        const order = value as { id?: unknown; total?: unknown };
        if (typeof order?.id !== 'string')
          return { issues: [{ message: 'id must be a string', path: ['id'] }] };
        if (typeof order.total !== 'number' || order.total <= 0)
          return { issues: [{ message: 'total must be positive', path: [{ key: 'total' }] }] };
        return { value: { id: order.id, total: order.total } };
      },
    },
  };
}

const schemas = { chat: ChatLine, 'orders.*': orderSchema() };

function hubFor(t: T, options: HubOptions = {}): Hub {
  const hub = createHub({ onError: () => {}, schemas, ...options });
  t.after(() => hub.close());
  return hub;
}

async function refusal(promise: Promise<unknown>): Promise<TidingsError> {
  const error = await promise.then(
    () => assert.fail('expected INVALID_DATA'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof TidingsError, String(error));
  assert.equal(error.code, ErrorCode.invalidData, error.message);
  return error;
}

/** Collects a channel's messages in a hub handler, the control subscriber of these tests. */
async function control(hub: Hub, channel: string): Promise<Message[]> {
  const got: Message[] = [];
  await hub.subscribe(channel, (message) => {
    got.push(message);
  }).ready;
  return got;
}

describe('schemas: hub.publish', () => {
  test('invalid data rejects with INVALID_DATA and the issues; nothing stored, the position does not move', async (t) => {
    const hub = hubFor(t);
    const got = await control(hub, 'chat');
    await hub.publish('chat', { user: 'ada', text: 'one' });
    const before = await hub.position('chat');
    const error = await refusal(hub.publish('chat', { user: 'ada', text: 'x'.repeat(21) }));
    assert.match(error.message, /^data for chat does not match its schema: text: /);
    const issues = error.details?.issues as { message: string; path?: unknown[] }[];
    assert.equal(issues.length, 1);
    assert.deepEqual(issues[0].path, ['text']);
    await refusal(hub.publish('chat', 'not an object'));
    assert.deepEqual(await hub.position('chat'), before);
    await hub.publish('chat', { user: 'ada', text: 'two' });
    await waitFor(() => got.length === 2, 2_000, 'two messages');
    await sleep(20);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data]),
      [
        [1, { user: 'ada', text: 'one' }],
        [2, { user: 'ada', text: 'two' }],
      ],
    );
    assert.equal((await hub.history('chat')).messages.length, 2);
  });

  test('what the schema returns is stored (zod strips unknown keys, applies defaults)', async (t) => {
    const hub = hubFor(t, {
      schemas: { note: z.object({ text: z.string(), pinned: z.boolean().default(false) }) },
    });
    await hub.publish('note', { text: 'hi', extra: 'dropped' });
    const [message] = (await hub.history('note')).messages;
    assert.deepEqual(message.data, { text: 'hi', pinned: false });
  });

  test('async schemas on patterns; publish order holds when a slow check is followed by a fast one', async (t) => {
    const hub = hubFor(t);
    const got = await control(hub, 'orders.*');
    const slow = hub.publish('orders.1', { id: 'a', total: 1, delay: 40 });
    const fast = hub.publish('orders.1', { id: 'b', total: 2, delay: 0 });
    const refused = refusal(hub.publish('orders.1', { id: 'c', total: -1 }));
    const last = hub.publish('orders.1', { id: 'd', total: 4 });
    assert.deepEqual(
      (await Promise.all([slow, fast, last])).map((p) => p.offset),
      [1, 2, 3],
    );
    const error = await refused;
    assert.deepEqual(error.details, { issues: [{ message: 'total must be positive', path: ['total'] }] });
    await waitFor(() => got.length === 3, 2_000, 'three orders');
    assert.deepEqual(
      got.map((m) => (m.data as { id: string }).id),
      ['a', 'b', 'd'],
    );
    // Another channel of the pattern is not held up by this one's checks.
    assert.equal((await hub.publish('orders.2', { id: 'e', total: 5 })).offset, 1);
  });

  test('every matching schema holds: the channel’s own, then the patterns in order', async (t) => {
    const seen: string[] = [];
    const tag = (name: string): StandardSchemaV1 => ({
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) => {
          seen.push(name);
          return typeof value === 'number' && value > 0
            ? { value: value + 1 }
            : { issues: [{ message: `${name} says no` }] };
        },
      },
    });
    const hub = hubFor(t, {
      schemas: { 'shop.>': tag('any'), 'shop.*': tag('one'), 'shop.main': tag('main') },
    });
    await hub.publish('shop.main', 1);
    assert.deepEqual(seen, ['main', 'any', 'one']);
    assert.equal((await hub.history('shop.main')).messages[0].data, 4);
    const error = await refusal(hub.publish('shop.main', 0));
    assert.match(error.message, /main says no/);
    await hub.publish('elsewhere', 'no schema applies');
  });

  test('setState and broadcast are checked too; a broadcast stores nothing unless every channel passes', async (t) => {
    const hub = hubFor(t);
    await refusal(hub.setState('chat', { user: 1 }));
    assert.equal((await hub.position('chat')).offset, 0);
    await hub.publish('orders.1', { id: 'a', total: 1 });
    await refusal(hub.broadcast(['orders.1', 'chat'], { id: 'b', total: 2 }));
    assert.equal((await hub.position('orders.1')).offset, 1);
    assert.equal((await hub.position('chat')).offset, 0);
    const results = await hub.broadcast(['orders.1', 'orders.2'], { id: 'c', total: 3 });
    assert.deepEqual(
      results.map((r) => r.offset),
      [2, 1],
    );
  });

  test('a schema that throws is a server error (INTERNAL), not bad data; bad options fail at once', async (t) => {
    const broken: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('bug');
        },
      },
    };
    const hub = hubFor(t, { schemas: { x: broken } });
    await assert.rejects(hub.publish('x', 1), {
      code: ErrorCode.internal,
      message: 'the schema for x failed: bug',
    });
    assert.throws(() => createHub({ schemas: { 'not a channel': ChatLine } }), {
      code: ErrorCode.invalidChannel,
    });
    assert.throws(() => createHub({ schemas: { chat: { parse() {} } as never } }), {
      code: ErrorCode.invalidField,
    });
  });
});

describe('schemas: over the wire', () => {
  async function server(t: T) {
    const srv = await listen({ hub: createHub({ onError: () => {}, schemas }) });
    t.after(srv.close);
    return srv;
  }

  test('WebSocket publish frame: an error frame INVALID_DATA with the issues; others see only valid messages, once', async (t) => {
    const srv = await server(t);
    const watcher = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => watcher.close());
    await watcher.subscribe('chat', 1);
    const publisher = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => publisher.close());
    const publish = (id: number, data: unknown) =>
      publisher.request({ type: 'publish', id, channel: 'chat', data });
    assert.equal((await publish(1, { user: 'ada', text: 'one' })).type, 'ack');
    const refused = await publish(2, { user: 'ada', text: 'x'.repeat(30) });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'INVALID_DATA');
    assert.equal(refused.channel, 'chat');
    assert.match(refused.message as string, /^data for chat does not match its schema: text: /);
    assert.deepEqual((refused.details as { issues: { path: unknown }[] }).issues[0].path, ['text']);
    assert.equal((await srv.hub.position('chat')).offset, 1);
    const async = await publisher.request({ type: 'publish', id: 3, channel: 'orders.7', data: { id: 'o' } });
    assert.equal(async.code, 'INVALID_DATA');
    assert.equal((await publish(4, { user: 'bob', text: 'two' })).type, 'ack');
    await watcher.waitForOffset('chat', 2);
    await sleep(20);
    const texts = watcher.frames.filter(isMessage('chat')).map((f) => (f.data as { text: string }).text);
    assert.deepEqual(texts, ['one', 'two']);
    // The connection goes on: the refusal was about one publish.
    assert.equal(
      (await publisher.request({ type: 'publish', id: 5, channel: 'orders.7', data: { id: 'o', total: 1 } }))
        .type,
      'ack',
    );
  });

  test('POST /publish: 422 INVALID_DATA with the issues; the position does not move', async (t) => {
    const srv = await server(t);
    const watcher = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => watcher.close());
    await watcher.subscribe('orders.1', 1);
    assert.equal(
      (await publishHttp(srv.url, { channel: 'orders.1', data: { id: 'a', total: 1 } })).status,
      200,
    );
    const refused = await publishHttp(srv.url, { channel: 'orders.1', data: { id: 'b', total: 0 } });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.type, 'error');
    assert.equal(refused.body.code, 'INVALID_DATA');
    assert.deepEqual(refused.body.details, {
      issues: [{ message: 'total must be positive', path: ['total'] }],
    });
    assert.equal((await srv.hub.position('orders.1')).offset, 1);
    assert.equal(
      (await publishHttp(srv.url, { channel: 'orders.1', data: { id: 'c', total: 3 } })).status,
      200,
    );
    await watcher.waitForOffset('orders.1', 2);
    await sleep(20);
    const ids = watcher.frames.filter(isMessage('orders.1')).map((f) => (f.data as { id: string }).id);
    assert.deepEqual(ids, ['a', 'c']);
  });
});
