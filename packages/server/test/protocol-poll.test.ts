// Long-polls and polls that come back with a cursor take the lean path (transports/lean-poll.ts): no
// session, no subscription, the channel's feed listened to directly. These tests hold it to what the
// full path guarantees, and show what it saves: a long-poll already caught up reads no history.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineMessage, ReadResult, StreamListener } from '@tidings/engine';
import { MemoryEngine } from '@tidings/engine';
import { ErrorCode } from '@tidings/protocol';
import { type Authenticate, createHub, type TidingsServerOptions } from '@tidings/server';
import { listen } from '@tidings/testing';
import { getJson, offsets, publishMany, range } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

/** The in-memory engine, counting history reads and keeping its stream listeners so a test can disturb them. */
class WatchedEngine extends MemoryEngine {
  reads = 0;
  readonly listeners = new Map<StreamListener, string>();
  open = 0;

  override read(channel: string, after: number, limit: number): Promise<ReadResult> {
    this.reads++;
    return super.read(channel, after, limit);
  }

  override async subscribe(channel: string, listener: StreamListener): Promise<() => void> {
    const stop = await super.subscribe(channel, listener);
    this.listeners.set(listener, channel);
    this.open++;
    return () => {
      if (this.listeners.delete(listener)) this.open--;
      stop();
    };
  }

  /** Hands every listener of `channel` a message as if the stream had carried it. */
  inject(message: EngineMessage): void {
    for (const [listener, channel] of this.listeners)
      if (channel === message.channel) listener.message(message);
  }

  resyncAll(): void {
    for (const listener of this.listeners.keys()) listener.resync?.();
  }
}

async function server(t: T, options: TidingsServerOptions = {}) {
  const engine = new WatchedEngine();
  const hub = createHub({ engine, onError: () => {} });
  const srv = await listen({ hub, ...options });
  t.after(srv.close);
  return { ...srv, engine };
}

type Srv = Awaited<ReturnType<typeof server>>;

/** Waits until `count` long-polls are open (parked, or reading). */
async function parked(srv: Srv, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (srv.tidings.stats().connections.longpoll !== count) {
    assert.ok(Date.now() < deadline, `${count} long-polls open`);
    await sleep(2);
  }
  await sleep(20);
}

/** A cursor at the channel's position, and the feed live and knowing it: one long-poll answered by a publish. */
async function caughtUp(srv: Srv, channel: string): Promise<string> {
  const first = await getJson(`${srv.url}/poll?channel=${channel}`);
  const pending = getJson(`${srv.url}/longpoll?channel=${channel}&cursor=${first.body.cursor}&wait=5000`);
  await parked(srv, 1);
  await srv.hub.publish(channel, 'warm');
  const answer = await pending;
  assert.equal(answer.body.frames.length, 1);
  return answer.body.cursor;
}

describe('long-poll and poll with a cursor (the lean path)', () => {
  test('a long-poll caught up reads no history: the next live message answers it', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'c', 3);
    const cursor = await caughtUp(srv, 'c');
    const reads = srv.engine.reads;
    const pending = getJson(`${srv.url}/longpoll?channel=c&cursor=${cursor}&wait=5000`);
    await parked(srv, 1);
    await srv.hub.publish('c', 'five');
    const answer = await pending;
    const { epoch } = await srv.hub.position('c');
    assert.deepEqual(offsets(answer.body.frames, 'c'), [5]);
    assert.equal(answer.body.cursor, `c=${epoch}:5`);
    assert.equal(srv.engine.reads, reads, 'no history read for a cursor at the channel position');
    // A poll at the position answers at once, without a read either.
    const poll = await getJson(`${srv.url}/poll?channel=c&cursor=${answer.body.cursor}`);
    assert.deepEqual(poll.body, { frames: [], cursor: `c=${epoch}:5` });
    assert.equal(srv.engine.reads, reads);
  });

  test('a poll behind gets what it missed at once; channels keep the request order in the cursor', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'a', 2);
    const b = await caughtUp(srv, 'b');
    const a = (await getJson(`${srv.url}/poll?channel=a`)).body.cursor;
    await publishMany(srv.hub, 'a', 3);
    const answer = await getJson(`${srv.url}/poll?channel=b&channel=a&cursor=${a},${b}`);
    const ea = (await srv.hub.position('a')).epoch;
    const eb = (await srv.hub.position('b')).epoch;
    assert.deepEqual(offsets(answer.body.frames, 'a'), [3, 4, 5]);
    assert.equal(answer.body.cursor, `b=${eb}:1,a=${ea}:5`);
    const again = await getJson(
      `${srv.url}/longpoll?channel=a&channel=b&cursor=${answer.body.cursor}&wait=30`,
    );
    assert.deepEqual(again.body, { frames: [], cursor: `a=${ea}:5,b=${eb}:1` });
  });

  test('a message out of sequence while waiting (another epoch, a gap) or a resync goes to the full path', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'g', 2);
    let cursor = await caughtUp(srv, 'g');
    const { epoch } = await srv.hub.position('g');
    const disturbances = [
      () => srv.engine.inject({ channel: 'g', epoch: 'Elsewhere', offset: 1, ts: Date.now(), data: '"x"' }),
      () => srv.engine.inject({ channel: 'g', epoch, offset: 99, ts: Date.now(), data: '"x"' }),
      () => srv.engine.resyncAll(),
    ];
    let offset = 3;
    for (const disturb of disturbances) {
      const pending = getJson(`${srv.url}/longpoll?channel=g&cursor=${cursor}&wait=5000`);
      await parked(srv, 1);
      disturb();
      // Nothing was sent: the request is served on a session from the same cursor, which waits.
      await parked(srv, 1);
      await srv.hub.publish('g', offset);
      const answer = await pending;
      assert.deepEqual(offsets(answer.body.frames, 'g'), [offset + 1]);
      assert.equal(answer.body.cursor, `g=${epoch}:${offset + 1}`);
      cursor = answer.body.cursor;
      offset++;
    }
  });

  test('a cursor that cannot be served gets the reset, the snapshot and what follows, as on the full path', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'r', 2);
    await caughtUp(srv, 'r');
    await srv.hub.setState('r', 'state');
    await srv.hub.publish('r', 'after');
    const { epoch } = await srv.hub.position('r');
    const answer = await getJson(`${srv.url}/longpoll?channel=r&cursor=r=${epoch}:40&wait=5000`);
    assert.deepEqual(
      answer.body.frames.map((f) => `${f.type}@${f.offset}`),
      ['reset@3', 'snapshot@3', 'message@4'],
    );
    assert.equal(answer.body.cursor, `r=${epoch}:4`);
  });

  test('expired messages are skipped and move no position', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'e', 1);
    const cursor = await caughtUp(srv, 'e');
    await srv.hub.publish('e', 'short-lived', { ttl: 1 });
    await sleep(20);
    const answer = await getJson(`${srv.url}/poll?channel=e&cursor=${cursor}`);
    assert.deepEqual(answer.body, { frames: [], cursor });
  });

  test('a waiting long-poll holds its connection slot, and gives it back with its answer', async (t) => {
    const srv = await server(t, { limits: { maxConnectionsPerIdentity: 1 } });
    await publishMany(srv.hub, 's', 1);
    const cursor = await caughtUp(srv, 's');
    const pending = getJson(`${srv.url}/longpoll?channel=s&cursor=${cursor}&wait=5000`);
    await parked(srv, 1);
    const refused = await getJson(`${srv.url}/poll?channel=s&cursor=${cursor}`);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, ErrorCode.tooManyConnections);
    await srv.hub.publish('s', 'go');
    assert.equal((await pending).status, 200);
    for (let i = 0; i < 3; i++) {
      assert.equal((await getJson(`${srv.url}/poll?channel=s&cursor=${cursor}`)).status, 200);
    }
  });

  test('token expiry, disconnect() and shutdown end a waiting long-poll with its frames and cursor', async (t) => {
    const authenticate: Authenticate = ({ token }) =>
      token === 'short' ? { id: 'ann', expiresAt: Date.now() + 300 } : { id: token ?? 'anon' };
    const srv = await server(t, { authenticate });
    await publishMany(srv.hub, 'p', 1);
    const cursor = await caughtUp(srv, 'p');
    const kinds = (frames: { type: string; code?: string }[]) => frames.map((f) => `${f.type}:${f.code}`);

    const expiring = await getJson(`${srv.url}/longpoll?channel=p&cursor=${cursor}&wait=10000&token=short`);
    assert.deepEqual(kinds(expiring.body.frames), [
      `unsubscribed:${ErrorCode.tokenExpired}`,
      `disconnect:${ErrorCode.tokenExpired}`,
    ]);
    assert.equal(expiring.body.cursor, cursor);
    assert.match(expiring.headers.get('tidings-limits') ?? '', /expiresAt=\d+/);

    const bob = getJson(`${srv.url}/longpoll?channel=p&cursor=${cursor}&wait=10000&token=bob`);
    await parked(srv, 1);
    assert.equal(srv.tidings.disconnect('bob', { reason: 'banned' }), 1);
    const banned = (await bob).body;
    assert.deepEqual(banned.frames, [
      { type: 'disconnect', code: ErrorCode.forbidden, reason: 'banned', reconnect: false },
    ]);
    assert.equal(banned.cursor, cursor);

    const last = getJson(`${srv.url}/longpoll?channel=p&cursor=${cursor}&wait=10000&token=cy`);
    await parked(srv, 1);
    await srv.tidings.close({ deadlineMs: 2_000 });
    assert.deepEqual(kinds((await last).body.frames), [`disconnect:${ErrorCode.shuttingDown}`]);
    assert.equal(srv.tidings.stats().connections.longpoll, 0);
  });

  test('many long-polls of one channel each get every message once, in order, across their answers', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'm', 1);
    const cursor = await caughtUp(srv, 'm');
    const poller = async () => {
      const seen: number[] = [];
      let at = cursor;
      while ((seen.at(-1) ?? 2) < 102) {
        const answer = await getJson(`${srv.url}/longpoll?channel=m&cursor=${at}&wait=2000`);
        seen.push(...offsets(answer.body.frames, 'm'));
        at = answer.body.cursor;
      }
      return seen;
    };
    const polling = Array.from({ length: 10 }, poller);
    await parked(srv, 10);
    for (let i = 0; i < 100; i++) {
      await srv.hub.publish('m', i);
      if (i % 7 === 0) await sleep(1);
    }
    for (const seen of await Promise.all(polling)) assert.deepEqual(seen, range(3, 102));
  });

  test("a polled channel's stream stays open a while for the next poll, and closes with the hub", async (t) => {
    const srv = await server(t);
    await caughtUp(srv, 'l');
    assert.equal(srv.hub.subscriberCount('l'), 0, 'no one waits');
    assert.equal(srv.engine.open, 1, 'the stream is still open for the next poll');
    await srv.close();
    assert.equal(srv.engine.open, 0);
  });
});
