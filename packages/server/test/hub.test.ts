import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHub,
  ErrorCode,
  type Hub,
  MemoryEngine,
  type Message,
  type ResetNotice,
} from '@tidings/server';

function hubFor(t: { after(fn: () => unknown): void }, options: Parameters<typeof createHub>[0] = {}): Hub {
  const errors: unknown[] = [];
  const hub = createHub({ onError: (error) => errors.push(error), ...options });
  t.after(() => hub.close());
  return hub;
}

async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await sleep(2);
  }
}

function collect(into: Message[]) {
  return (message: Message) => {
    into.push(message);
  };
}

describe('hub: publish and subscribe', () => {
  test('a handler receives channel, offset, epoch, ts and data', async (t) => {
    const hub = hubFor(t);
    const got: Message[] = [];
    const sub = hub.subscribe('news', collect(got));
    await sub.ready;
    const before = Date.now();
    const published = await hub.publish('news', { title: 'hello' });
    await until(() => got.length === 1);
    const [message] = got;
    assert.equal(message.channel, 'news');
    assert.equal(message.offset, 1);
    assert.equal(message.offset, published.offset);
    assert.equal(message.epoch, published.epoch);
    assert.match(message.epoch, /^[A-Za-z0-9_-]+$/);
    assert.ok(message.ts >= before - 1 && message.ts <= Date.now() + 1);
    assert.deepEqual(message.data, { title: 'hello' });
    assert.equal(message.snapshot, false);
  });

  test('hub.channel(name).send and subscribe, as in Lona', async (t) => {
    const hub = hubFor(t);
    const chat = hub.channel('chat');
    const got: unknown[] = [];
    chat.subscribe((message) => {
      got.push(message.data);
    });
    await chat.send('one');
    await chat.send('two');
    await until(() => got.length === 2);
    assert.deepEqual(got, ['one', 'two']);
    assert.deepEqual(await chat.position(), { epoch: (await hub.position('chat')).epoch, offset: 2 });
  });

  test('data is frozen: a handler cannot change what others receive', async (t) => {
    const hub = hubFor(t);
    const seen: unknown[] = [];
    hub.subscribe('c', (message) => {
      assert.throws(() => {
        (message.data as { list: number[] }).list.push(4);
      }, TypeError);
      assert.throws(() => {
        (message as { offset: number }).offset = 99;
      }, TypeError);
    });
    hub.subscribe('c', (message) => {
      seen.push(message.data);
    });
    const original = { list: [1, 2, 3] };
    await hub.publish('c', original);
    original.list.push(5);
    await until(() => seen.length === 1);
    assert.deepEqual(seen[0], { list: [1, 2, 3] });
  });

  test('a subscription made after publish returned never receives it; one made before does', async (t) => {
    const hub = hubFor(t);
    const early: number[] = [];
    const late: number[] = [];
    hub.subscribe('b', (m) => {
      early.push(m.offset);
    });
    await hub.publish('b', 1);
    hub.subscribe('b', (m) => {
      late.push(m.offset);
    });
    const promise = hub.publish('b', 2);
    const lateAfterCall: number[] = [];
    hub.subscribe('b', (m) => {
      lateAfterCall.push(m.offset);
    });
    await promise;
    await hub.publish('b', 3);
    await until(() => early.length === 3 && late.length === 2 && lateAfterCall.length === 1);
    assert.deepEqual(early, [1, 2, 3]);
    assert.deepEqual(late, [2, 3]);
    assert.deepEqual(lateAfterCall, [3]);
  });

  test('the boundary holds for a channel nobody followed yet (first subscriber asks the engine)', async (t) => {
    const hub = hubFor(t);
    await hub.publish('fresh', 'before');
    const got: unknown[] = [];
    const sub = hub.subscribe('fresh', (m) => {
      got.push(m.data);
    });
    await hub.publish('fresh', 'after');
    await sub.ready;
    await until(() => got.length === 1);
    await sleep(10);
    assert.deepEqual(got, ['after']);
  });

  test('async handlers run one at a time, in order', async (t) => {
    const hub = hubFor(t);
    let running = 0;
    let overlapped = false;
    const order: number[] = [];
    hub.subscribe('slow', async (m) => {
      running++;
      if (running > 1) overlapped = true;
      await sleep(Math.random() * 3);
      order.push(m.data as number);
      running--;
    });
    for (let i = 0; i < 30; i++) void hub.publish('slow', i);
    await until(() => order.length === 30);
    assert.equal(overlapped, false);
    assert.deepEqual(
      order,
      Array.from({ length: 30 }, (_, i) => i),
    );
  });

  test('a throwing or rejecting handler is reported and affects nobody else', async (t) => {
    const errors: unknown[] = [];
    const hub = hubFor(t, { onError: (error) => errors.push(error) });
    const bad: number[] = [];
    const good: number[] = [];
    hub.subscribe('e', (m) => {
      bad.push(m.offset);
      if (m.offset === 2) throw new Error('sync boom');
    });
    hub.subscribe('e', async (m) => {
      if (m.offset === 3) throw new Error('async boom');
    });
    hub.subscribe('e', (m) => {
      good.push(m.offset);
    });
    for (let i = 0; i < 5; i++) await hub.publish('e', i);
    await until(() => good.length === 5 && bad.length === 5 && errors.length === 2);
    assert.deepEqual(good, [1, 2, 3, 4, 5]);
    assert.deepEqual(bad, [1, 2, 3, 4, 5]);
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['sync boom', 'async boom'],
    );
  });

  test('unsubscribe during delivery stops that subscription at once; others go on', async (t) => {
    const hub = hubFor(t);
    const got: number[] = [];
    const others: number[] = [];
    const sub = hub.subscribe('u', (m) => {
      got.push(m.offset);
      if (m.offset === 3) sub.unsubscribe();
    });
    hub.subscribe('u', (m) => {
      others.push(m.offset);
    });
    for (let i = 0; i < 6; i++) void hub.publish('u', i);
    await until(() => others.length === 6);
    await sleep(5);
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(sub.closed, true);
  });

  test('a handler publishing to its own channel keeps the order', async (t) => {
    const hub = hubFor(t);
    const got: unknown[] = [];
    // Live first: the handler then publishes while 'ping' is being delivered (re-entrantly, with the
    // memory engine), before 'after' is published.
    await hub.subscribe('echo', (m) => {
      got.push(m.data);
      if (m.data === 'ping') void hub.publish('echo', 'pong');
    }).ready;
    await hub.publish('echo', 'ping');
    await hub.publish('echo', 'after');
    await until(() => got.length === 3);
    assert.deepEqual(got, ['ping', 'pong', 'after']);
  });
});

describe('hub: exactly once, in order, under concurrency', () => {
  test('many publishers, many channels, slow async handlers: every subscription sees exactly the published sequence', async (t) => {
    const hub = hubFor(t);
    const channels = Array.from({ length: 8 }, (_, i) => `load.c${i}`);
    const perChannel = 150;
    type Seen = Map<string, Message[]>;
    const subscribers: Seen[] = [];
    const mode = ['sync', 'async', 'slow'] as const;
    for (let s = 0; s < 12; s++) {
      const seen: Seen = new Map();
      subscribers.push(seen);
      const kind = mode[s % 3];
      const record = (m: Message) => {
        const list = seen.get(m.channel) ?? [];
        list.push(m);
        seen.set(m.channel, list);
      };
      const target = s % 4 === 0 ? 'load.*' : channels[s % channels.length];
      hub.subscribe(target, (m) => {
        if (kind === 'sync') return record(m);
        if (kind === 'async') return Promise.resolve().then(() => record(m));
        return sleep(Math.random() < 0.05 ? 1 : 0).then(() => record(m));
      });
    }
    // Each publisher writes its own numbered sequence, interleaved with the others.
    const published = new Map<string, string[]>();
    const publishers = [];
    for (const channel of channels) published.set(channel, []);
    for (let p = 0; p < 6; p++) {
      publishers.push(
        (async () => {
          for (let i = 0; i < perChannel; i++) {
            const channel = channels[(p + i) % channels.length];
            const data = `p${p}-${i}`;
            const result = await hub.publish(channel, data);
            published.get(channel)![result.offset - 1] = data;
            if (i % 7 === 0) await sleep(0);
          }
        })(),
      );
    }
    await Promise.all(publishers);
    const total = [...published.values()].reduce((n, list) => n + list.length, 0);
    assert.equal(total, 6 * perChannel);
    await until(
      () =>
        subscribers.every((seen, s) => {
          const wanted = s % 4 === 0 ? channels : [channels[s % channels.length]];
          return wanted.every((c) => (seen.get(c)?.length ?? 0) === published.get(c)!.length);
        }),
      20_000,
    );
    await sleep(20);
    subscribers.forEach((seen, s) => {
      const wanted = s % 4 === 0 ? channels : [channels[s % channels.length]];
      assert.deepEqual([...seen.keys()].sort(), [...wanted].sort(), `subscriber ${s} channels`);
      for (const channel of wanted) {
        const got = seen.get(channel)!;
        assert.deepEqual(
          got.map((m) => m.offset),
          published.get(channel)!.map((_, i) => i + 1),
          `subscriber ${s} offsets on ${channel}`,
        );
        assert.deepEqual(
          got.map((m) => m.data),
          published.get(channel),
          `subscriber ${s} data on ${channel}`,
        );
      }
    });
  });
});

describe('hub: patterns, broadcast, scopes, options', () => {
  test('chat.* matches one segment, chat.> any depth; each channel in its own order', async (t) => {
    const hub = hubFor(t);
    const one: string[] = [];
    const deep: string[] = [];
    hub.subscribe('chat.*', (m) => {
      one.push(`${m.channel}#${m.offset}`);
    });
    hub.subscribe('chat.>', (m) => {
      deep.push(`${m.channel}#${m.offset}`);
    });
    await hub.publish('chat.a', 1);
    await hub.publish('chat.b', 1);
    await hub.publish('chat.a.x', 1);
    await hub.publish('chat', 1);
    await hub.publish('chat.a', 2);
    await until(() => deep.length === 4);
    assert.deepEqual(one, ['chat.a#1', 'chat.b#1', 'chat.a#2']);
    assert.deepEqual(deep, ['chat.a#1', 'chat.b#1', 'chat.a.x#1', 'chat.a#2']);
  });

  test('broadcast to a pattern reaches every known matching channel; publish to a pattern is refused', async (t) => {
    const hub = hubFor(t);
    await hub.publish('room.1', 'hi');
    await hub.setState('room.2', []);
    hub.subscribe('room.3', () => {});
    await sleep(1);
    const results = await hub.broadcast('room.*', 'all');
    assert.deepEqual(results.map((r) => r.channel).sort(), ['room.1', 'room.2', 'room.3']);
    assert.deepEqual(results.map((r) => r.offset).sort(), [1, 1, 2]);
    const listed = await hub.broadcast(['x.a', 'x.b'], 'list');
    assert.deepEqual(
      listed.map((r) => [r.channel, r.offset]),
      [
        ['x.a', 1],
        ['x.b', 1],
      ],
    );
    await assert.rejects(hub.publish('room.*', 'nope'), { code: ErrorCode.invalidChannel });
  });

  test('echo: false skips the publishing scope, reaches everyone else', async (t) => {
    const hub = hubFor(t);
    const scope = hub.scope();
    const own: unknown[] = [];
    const other: unknown[] = [];
    scope.subscribe('s', (m) => {
      own.push(m.data);
    });
    hub.subscribe('s', (m) => {
      other.push(m.data);
    });
    await scope.publish('s', 'quiet', { echo: false });
    await scope.publish('s', 'loud');
    await until(() => other.length === 2);
    await sleep(5);
    assert.deepEqual(own, ['loud']);
    assert.deepEqual(other, ['quiet', 'loud']);
    await assert.rejects(hub.publish('s', 'x', { echo: false }), { code: ErrorCode.invalidField });
  });

  test('closing a scope ends all its subscriptions at once', async (t) => {
    const hub = hubFor(t);
    const scope = hub.scope();
    const got: string[] = [];
    const a = scope.subscribe('a', (m) => {
      got.push(m.channel);
    });
    scope.subscribe('b', (m) => {
      got.push(m.channel);
    });
    await hub.publish('a', 1);
    await hub.publish('b', 1);
    await until(() => got.length === 2);
    a.unsubscribe();
    assert.equal(scope.size, 1);
    scope.close();
    assert.equal(scope.size, 0);
    await hub.publish('a', 2);
    await hub.publish('b', 2);
    await sleep(5);
    assert.deepEqual(got, ['a', 'b']);
    assert.throws(() => scope.subscribe('c', () => {}), { code: ErrorCode.closed });
  });

  test('an expired message is dropped, never delivered late', async (t) => {
    const hub = hubFor(t);
    const got: unknown[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    hub.subscribe('x', async (m) => {
      got.push(m.data);
      if (m.data === 'first') await blocked;
    });
    await hub.publish('x', 'first');
    await hub.publish('x', 'short-lived', { ttl: 20 });
    await hub.publish('x', 'last');
    await sleep(40);
    release();
    await until(() => got.length === 2);
    await sleep(5);
    assert.deepEqual(got, ['first', 'last']);
  });

  test('ifOffset: succeeds on the current offset, fails with CONFLICT and the position otherwise', async (t) => {
    const hub = hubFor(t);
    const first = await hub.publish('doc', 'v1', { ifOffset: 0 });
    assert.equal(first.offset, 1);
    await hub.publish('doc', 'v2', { ifOffset: 1 });
    await assert.rejects(
      hub.publish('doc', 'stale', { ifOffset: 1 }),
      (error: Error & { code: string; details: { offset: number; epoch: string } }) => {
        assert.equal(error.code, ErrorCode.conflict);
        assert.equal(error.details.offset, 2);
        assert.equal(error.details.epoch, first.epoch);
        return true;
      },
    );
    assert.equal((await hub.position('doc')).offset, 2);
  });

  test('idempotent publish: the same id returns the original position and delivers once', async (t) => {
    const hub = hubFor(t);
    const got: unknown[] = [];
    hub.subscribe('pay', (m) => {
      got.push(m.data);
    });
    const a = await hub.publish('pay', 'charge', { id: 'k1' });
    const b = await hub.publish('pay', 'charge again', { id: 'k1' });
    const c = await hub.publish('pay', 'other', { id: 'k2' });
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.offset, a.offset);
    assert.equal(c.offset, 2);
    await until(() => got.length === 2);
    await sleep(5);
    assert.deepEqual(got, ['charge', 'other']);
  });

  test('idempotency keys expire after the configured window', async (t) => {
    const hub = hubFor(t, { defaultHistory: { idempotencyMs: 30 } });
    const a = await hub.publish('w', 1, { id: 'k' });
    await sleep(60);
    const b = await hub.publish('w', 1, { id: 'k' });
    assert.equal(b.duplicate, false);
    assert.equal(b.offset, a.offset + 1);
  });
});

describe('hub: history, snapshots, resume', () => {
  test('history is bounded by count per pattern and served exactly after a position', async (t) => {
    const hub = hubFor(t, { history: { 'small.*': { size: 5 } } });
    for (let i = 1; i <= 12; i++) await hub.publish('small.a', i);
    for (let i = 1; i <= 12; i++) await hub.publish('big', i);
    const small = await hub.history('small.a');
    assert.deepEqual(
      small.messages.map((m) => m.data),
      [8, 9, 10, 11, 12],
    );
    const big = await hub.history('big', { limit: 3 });
    assert.deepEqual(
      big.messages.map((m) => m.data),
      [10, 11, 12],
    );
    const since = await hub.history('small.a', { since: { epoch: small.epoch, offset: 9 } });
    assert.equal(since.reset, false);
    assert.deepEqual(
      since.messages.map((m) => m.offset),
      [10, 11, 12],
    );
    const tooOld = await hub.history('small.a', { since: { epoch: small.epoch, offset: 2 } });
    assert.equal(tooOld.reset, true);
    assert.equal(tooOld.snapshot, undefined);
    const otherEpoch = await hub.history('small.a', { since: { epoch: 'gone', offset: 11 } });
    assert.equal(otherEpoch.reset, true);
  });

  test('history is bounded by age', async (t) => {
    const hub = hubFor(t, { history: { 'brief.>': { ttlMs: 1_000 } } });
    await hub.publish('brief.x', 'old');
    await sleep(1_200);
    await hub.publish('brief.x', 'new');
    const history = await hub.history('brief.x');
    assert.deepEqual(
      history.messages.map((m) => m.data),
      ['new'],
    );
    assert.equal(history.offset, 2);
  });

  test('state compression: a late joiner gets the snapshot, then only what follows it', async (t) => {
    const hub = hubFor(t);
    for (let i = 1; i <= 5; i++) await hub.publish('game', { move: i });
    const at = await hub.setState('game', { board: 'after five moves' });
    assert.equal(at.offset, 5);
    await hub.publish('game', { move: 6 });
    const got: Message[] = [];
    const sub = hub.subscribe('game', collect(got), { since: 'snapshot' });
    assert.deepEqual(await sub.ready, { epoch: at.epoch, offset: 6 });
    await hub.publish('game', { move: 7 });
    await until(() => got.length === 3);
    assert.equal(got[0].snapshot, true);
    assert.deepEqual(got[0].data, { board: 'after five moves' });
    assert.deepEqual(
      got.slice(1).map((m) => m.data),
      [{ move: 6 }, { move: 7 }],
    );
  });

  test('joining a second channel later never replays the first (per-channel positions)', async (t) => {
    const hub = hubFor(t);
    await hub.publish('one', 'a1');
    const got: string[] = [];
    hub.subscribe(
      'one',
      (m) => {
        got.push(`${m.channel}:${m.data}`);
      },
      { since: 'snapshot' },
    );
    await hub.publish('two', 'b1');
    await until(() => got.length === 1);
    hub.subscribe(
      'two',
      (m) => {
        got.push(`${m.channel}:${m.data}`);
      },
      { since: 'snapshot' },
    );
    await until(() => got.length === 2);
    await hub.publish('one', 'a2');
    await until(() => got.length === 3);
    await sleep(5);
    assert.deepEqual(got, ['one:a1', 'two:b1', 'one:a2']);
  });

  test('resume from a position delivers exactly what came after it, then live', async (t) => {
    const hub = hubFor(t);
    let last = await hub.publish('r', 0);
    for (let i = 1; i < 10; i++) last = await hub.publish('r', i);
    const got: number[] = [];
    const sub = hub.subscribe(
      'r',
      (m) => {
        got.push(m.data as number);
      },
      { since: { epoch: last.epoch, offset: 6 } },
    );
    await sub.ready;
    await hub.publish('r', 10);
    await until(() => got.length === 5);
    await sleep(5);
    assert.deepEqual(got, [6, 7, 8, 9, 10]);
  });

  test('a position history no longer reaches: reset, snapshot, then every message after it', async (t) => {
    const hub = hubFor(t, { history: { 'reset.*': { size: 3 } } });
    const first = await hub.publish('reset.a', 1);
    for (let i = 2; i <= 6; i++) await hub.publish('reset.a', i);
    await hub.setState('reset.a', 'state@6');
    for (let i = 7; i <= 8; i++) await hub.publish('reset.a', i);
    const got: (string | number)[] = [];
    const resets: ResetNotice[] = [];
    hub.subscribe(
      'reset.a',
      (m) => {
        got.push(m.snapshot ? `snapshot:${m.data}` : (m.data as number));
      },
      {
        since: { epoch: first.epoch, offset: 1 },
        onReset: (r) => {
          resets.push(r);
          got.push('reset');
        },
      },
    );
    await until(() => got.length === 4);
    assert.deepEqual(got, ['reset', 'snapshot:state@6', 7, 8]);
    assert.deepEqual(resets, [{ channel: 'reset.a', epoch: first.epoch, offset: 6 }]);
  });

  test('a position from another epoch resets (history lost)', async (t) => {
    const hub = hubFor(t);
    await hub.publish('lost', 'x');
    const got: unknown[] = [];
    let reset = false;
    hub.subscribe(
      'lost',
      (m) => {
        got.push(m.data);
      },
      {
        since: { epoch: 'someOldEpoch', offset: 40 },
        onReset: () => {
          reset = true;
        },
      },
    );
    await until(() => got.length === 1);
    assert.equal(reset, true);
    assert.deepEqual(got, ['x']);
  });

  test('a gap in the live stream is filled from history (engine that skips a message)', async (t) => {
    // An engine whose stream drops every 5th message, as a broker might across a reconnect.
    class LossyEngine extends MemoryEngine {
      override subscribe(...[channel, listener]: Parameters<MemoryEngine['subscribe']>) {
        return super.subscribe(channel, {
          message: (m) => {
            if (m.offset % 5 !== 0) listener.message(m);
          },
        });
      }
    }
    const hub = hubFor(t, { engine: new LossyEngine() });
    const got: number[] = [];
    hub.subscribe('gappy', (m) => {
      got.push(m.offset);
    });
    for (let i = 0; i < 23; i++) await hub.publish('gappy', i);
    await until(() => got.length === 23);
    assert.deepEqual(
      got,
      Array.from({ length: 23 }, (_, i) => i + 1),
    );
  });
});

describe('hub: rejected input loses nothing', () => {
  test('invalid channel names are refused with INVALID_CHANNEL', async (t) => {
    const hub = hubFor(t);
    for (const name of [
      '',
      ' ',
      'a b',
      'a..b',
      '.a',
      'a.',
      'x'.repeat(201),
      'a/b',
      'a=b',
      'a,b',
      'ü',
      'a*',
      42,
      null,
    ]) {
      await assert.rejects(hub.publish(name as string, 1), { code: ErrorCode.invalidChannel }, String(name));
      assert.throws(
        () => hub.subscribe(name as string, () => {}),
        { code: ErrorCode.invalidChannel },
        String(name),
      );
    }
  });

  test('oversized and non-JSON data is refused and nothing is half-published', async (t) => {
    const hub = hubFor(t, { maxMessageBytes: 1024 });
    const got: unknown[] = [];
    hub.subscribe('strict', (m) => {
      got.push(m.data);
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      ['x'.repeat(2000), ErrorCode.messageTooLarge],
      ['é'.repeat(600), ErrorCode.messageTooLarge],
      [undefined, ErrorCode.notSerializable],
      [() => 1, ErrorCode.notSerializable],
      [{ f: () => 1 }, ErrorCode.notSerializable],
      [{ u: undefined }, ErrorCode.notSerializable],
      [[1, undefined], ErrorCode.notSerializable],
      [Number.NaN, ErrorCode.notSerializable],
      [{ n: Number.POSITIVE_INFINITY }, ErrorCode.notSerializable],
      [10n, ErrorCode.notSerializable],
      [Symbol('s'), ErrorCode.notSerializable],
      [cyclic, ErrorCode.notSerializable],
    ];
    for (const [data, code] of cases) {
      await assert.rejects(hub.publish('strict', data), { code }, String(code));
      await assert.rejects(hub.setState('strict', data), { code });
    }
    await hub.publish('strict', 'ok');
    await until(() => got.length === 1);
    assert.deepEqual(got, ['ok']);
    assert.equal((await hub.position('strict')).offset, 1);
  });

  test('invalid options are refused with INVALID_FIELD', async (t) => {
    const hub = hubFor(t);
    const bad = [
      { id: '' },
      { id: 'x'.repeat(129) },
      { id: 5 },
      { ifOffset: -1 },
      { ifOffset: 1.5 },
      { ttl: 0 },
      { ttl: 'soon' },
    ];
    for (const options of bad) {
      await assert.rejects(
        hub.publish('opts', 1, options as never),
        { code: ErrorCode.invalidField },
        JSON.stringify(options),
      );
    }
    assert.throws(() => hub.subscribe('p.*', () => {}, { since: 'snapshot' }), {
      code: ErrorCode.invalidField,
    });
    assert.throws(() => hub.subscribe('p', () => {}, { since: { epoch: 'e', offset: -1 } }), {
      code: ErrorCode.invalidField,
    });
    assert.throws(() => hub.subscribe('p', 'nope' as never), { code: ErrorCode.invalidField });
    await assert.rejects(hub.history('p', { limit: 0 }), { code: ErrorCode.invalidField });
    assert.equal((await hub.position('opts')).offset, 0);
  });

  test('a closed hub refuses everything with CLOSED', async () => {
    const hub = createHub();
    await hub.close();
    await assert.rejects(hub.publish('a', 1), { code: ErrorCode.closed });
    assert.throws(() => hub.subscribe('a', () => {}), { code: ErrorCode.closed });
  });
});

describe('hub: start and reset notices come in order with messages', () => {
  test('onStart gives the position delivery continues after, before any message', async (t) => {
    const hub = hubFor(t, { history: { 'n.*': { size: 2 } } });
    const first = await hub.publish('n.a', 1);
    for (let i = 2; i <= 4; i++) await hub.publish('n.a', i);
    await hub.setState('n.a', 'S');
    const log = (into: string[]) => ({
      onStart: (p: ResetNotice) => {
        into.push(`start@${p.offset}`);
      },
      onReset: (p: ResetNotice) => {
        into.push(`reset@${p.offset}`);
      },
    });
    const now: string[] = [];
    const fromSnapshot: string[] = [];
    const resumed: string[] = [];
    const stale: string[] = [];
    const record = (into: string[]) => (m: Message) => {
      into.push(m.snapshot ? `snapshot@${m.offset}` : `m@${m.offset}`);
    };
    hub.subscribe('n.a', record(now), log(now));
    hub.subscribe('n.a', record(fromSnapshot), { since: 'snapshot', ...log(fromSnapshot) });
    hub.subscribe('n.a', record(resumed), { since: { epoch: first.epoch, offset: 3 }, ...log(resumed) });
    hub.subscribe('n.a', record(stale), { since: { epoch: first.epoch, offset: 1 }, ...log(stale) });
    await sleep(5);
    await hub.publish('n.a', 5);
    await until(() => now.length === 2 && stale.length === 4);
    assert.deepEqual(now, ['start@4', 'm@5']);
    assert.deepEqual(fromSnapshot, ['start@4', 'snapshot@4', 'm@5']);
    assert.deepEqual(resumed, ['start@3', 'm@4', 'm@5']);
    assert.deepEqual(stale, ['start@1', 'reset@4', 'snapshot@4', 'm@5']);
  });
});
