// A bounded fuzz run: thousands of malformed and random WebSocket frames and HTTP requests against a
// real server, while a control subscriber receives a steady stream of publishes. The server must not
// crash, must answer every bad input with a typed error (or close with a sane code), and the control
// subscriber must lose nothing and see nothing twice. Replay a failure with FUZZ_SEED=<seed>.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, before, test } from 'node:test';
import { CLOSE_CODE_BASE, ErrorCode } from '@tidings/protocol';
import { type Listening, listen } from '@tidings/server/testing';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { isMessage, offsets, range, StreamClient, WsClient } from './protocol-clients.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
const WS_RUNS = Number(process.env.FUZZ_WS_RUNS ?? 300);
const HTTP_RUNS = Number(process.env.FUZZ_HTTP_RUNS ?? 300);
/** Wall-clock budgets, so a loaded machine runs fewer inputs rather than a longer `npm test`. */
const WS_BUDGET_MS = 6_000;
const HTTP_BUDGET_MS = 4_000;
const ANSWER_TIMEOUT_MS = 3_000;
const LIMITS = {
  maxFrameBytes: 8 * 1024,
  maxMessageBytes: 4 * 1024,
  maxSubscriptions: 16,
  maxLongPollWaitMs: 50,
  requestTimeoutMs: 300,
  // High enough that the fuzz's own publishes do not starve; RATE_LIMITED is a typed answer anyway.
  publishRate: { perSecond: 10_000, burst: 10_000 },
};
const CODES = new Set<string>(Object.values(ErrorCode));
const REPLIES = new Set(['error', 'ack', 'subscribed', 'unsubscribed', 'refreshed', 'presence']);

console.log(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} node scripts/test.mjs fuzz)`);

let srv: Listening;
let control: WsClient;
let streamControl: StreamClient;
let ticker: NodeJS.Timeout;
let published = 0;

before(async () => {
  srv = await listen({ limits: LIMITS });
  control = await WsClient.open(`${srv.wsUrl}/ws`);
  await control.subscribe('control', 1);
  streamControl = await StreamClient.open(`${srv.url}/stream?channel=control`, 'stream');
  // The steady stream the control subscribers must receive whole, whatever the fuzz does meanwhile.
  ticker = setInterval(() => {
    published++;
    srv.hub.publish('control', published).catch((error) => assert.fail(`control publish: ${error}`));
  }, 5);
});

after(async () => {
  clearInterval(ticker);
  control?.close();
  streamControl?.abort();
  await srv?.close();
});

// Anything JSON can hold, with the numbers and strings most likely to hurt.
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    -1,
    1e308,
    -0,
    2 ** 53,
    Number.MAX_SAFE_INTEGER + 2,
    1.5,
    '',
    ' ',
    '*',
    '>',
    'a..b',
    'a.*.>',
    '\u0000',
    '\ud800',
    'x'.repeat(300),
    'now',
    'snapshot',
    {},
    [],
    null,
    true,
  ),
  fc.record({ epoch: fc.oneof(fc.string(), fc.integer()), offset: fc.oneof(fc.integer(), fc.string()) }),
);
const frameType = fc.oneof(
  fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'refresh', 'pong', 'presence', 'welcome', 'ack'),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);
const channel = fc.oneof(fc.constantFrom('room', 'room.a', 'room.*', 'control'), oddValue);
const objectFrame = fc.record(
  {
    type: frameType,
    channel,
    since: oddValue,
    data: oddValue,
    key: oddValue,
    ifOffset: oddValue,
    ttl: oddValue,
    echo: oddValue,
    token: oddValue,
  },
  { requiredKeys: ['type'] },
);

type Input =
  | { kind: 'object'; frame: Record<string, unknown> }
  | { kind: 'raw'; text: string; binary: boolean };

const wsInput: fc.Arbitrary<Input> = fc.oneof(
  { weight: 6, arbitrary: objectFrame.map((frame) => ({ kind: 'object' as const, frame })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        objectFrame.chain((f) => fc.nat({ max: 40 }).map((cut) => JSON.stringify(f).slice(0, cut))),
        fc.constantFrom(
          '{',
          '[]',
          'null',
          '"publish"',
          '{"type":"publish","id":1e400}',
          '{"__proto__":{"type":"pong"}}',
        ),
        fc.constantFrom(
          `{"type":"publish","id":77,"channel":"room","data":"${'x'.repeat(LIMITS.maxFrameBytes)}"}`,
          `{"type":"publish","id":78,"channel":"room","data":"${'y'.repeat(LIMITS.maxFrameBytes * 5)}"}`,
          `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
        ),
      )
      .chain((text) => fc.boolean().map((binary) => ({ kind: 'raw' as const, text, binary }))),
  },
);

/** A connection the fuzz may break: replaced when the server closes it. */
class Target {
  socket!: WebSocket;
  frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;

  async open(): Promise<void> {
    this.frames = [];
    this.closed = undefined;
    this.socket = new WebSocket(`${srv.wsUrl}/ws`, { perMessageDeflate: false });
    this.socket.on('error', () => {});
    this.socket.on('message', (data) => this.frames.push(JSON.parse(data.toString())));
    this.socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    await new Promise((resolve, reject) => {
      this.socket.once('open', resolve);
      this.socket.once('close', reject);
    });
  }

  /** Waits for the first reply frame from `from` on that `matches`, or the close of the connection. */
  answer(
    from: number,
    matches: (frame: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown> | 'closed'> {
    const found = () => {
      for (let i = from; i < this.frames.length; i++) {
        const frame = this.frames[i];
        if (REPLIES.has(frame.type as string) && matches(frame)) return frame;
      }
      return this.closed ? 'closed' : undefined;
    };
    const now = found();
    if (now) return Promise.resolve(now);
    // Woken by each frame and by the close, rather than polled: thousands of round trips add up.
    return new Promise((resolve, reject) => {
      const check = () => {
        const result = found();
        if (!result) return;
        done();
        resolve(result);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        this.socket.off('message', check).off('close', check);
      };
      this.socket.on('message', check).on('close', check);
    });
  }
}

let nextId = 1_000_000;

/** The id the answer to a raw text frame carries; 'none' for a valid `pong`, which has no answer. */
function rawExpectation(text: string): number | undefined | 'none' {
  const leading = /^\{"type":"publish","id":(\d+),/.exec(text);
  if (leading) return Number(leading[1]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { id, type } = value as { id?: unknown; type?: unknown };
  if (id === undefined) return type === 'pong' ? 'none' : undefined;
  return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : undefined;
}

test(`WebSocket: up to ${WS_RUNS} runs of random frames, each answered with a typed error, a reply or a sane close`, async () => {
  const target = new Target();
  await target.open();
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(wsInput, { minLength: 1, maxLength: 15 }), async (inputs) => {
      for (const input of inputs) {
        if (target.closed) await target.open();
        const from = target.frames.length;
        let expectId: number | undefined;
        if (input.kind === 'object') {
          const frame = { ...input.frame };
          // Our own id, so the answer can be told apart; no answer is due to a `pong`.
          if (frame.type === 'pong') {
            target.socket.send(JSON.stringify(frame));
            sent++;
            continue;
          }
          expectId = nextId++;
          frame.id = expectId;
          target.socket.send(JSON.stringify(frame));
        } else {
          target.socket.send(input.binary ? Buffer.from(input.text) : input.text, { binary: input.binary });
          if (!input.binary) {
            const expected = rawExpectation(input.text);
            if (expected === 'none') {
              sent++;
              continue;
            }
            expectId = expected;
          }
        }
        sent++;
        const answer = await target.answer(from, (frame) => frame.id === expectId);
        if (answer === 'closed') {
          const { code, reason } = target.closed!;
          // 1009: a frame too large to read. A Tidings close: 4000 + status, the reason its code.
          assert.ok(
            code === 1009 || (code >= CLOSE_CODE_BASE && CODES.has(reason)),
            `closed ${code} ${reason}`,
          );
        } else if (answer.type === 'error') {
          assert.ok(CODES.has(answer.code as string), `untyped error ${JSON.stringify(answer)}`);
          assert.equal(typeof answer.message, 'string');
        }
      }
    }),
    { seed: SEED, numRuns: WS_RUNS, interruptAfterTimeLimit: WS_BUDGET_MS, markInterruptAsFailure: false },
  );
  target.socket.terminate();
  console.log(`WebSocket fuzz: ${sent} frames`);
});

const endpoints = ['/ws', '/sse', '/stream', '/longpoll', '/poll', '/publish', '/presence', '/nope', ''];
const queryPart = fc.oneof(
  fc.tuple(
    fc.constantFrom('channel', 'cursor', 'since', 'wait', 'v', 'token'),
    fc.oneof(
      fc.string(),
      oddValue.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
    ),
  ),
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
);
// Header values Node will send: visible ASCII.
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});
const httpInput = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'OPTIONS', 'DELETE', 'HEAD'),
  endpoint: fc.constantFrom(...endpoints),
  query: fc.array(queryPart, { maxLength: 4 }),
  headers: fc.dictionary(
    fc.constantFrom(
      'content-type',
      'idempotency-key',
      'last-event-id',
      'origin',
      'authorization',
      'accept',
      'x-odd',
    ),
    headerValue,
    { maxKeys: 3 },
  ),
  body: fc.oneof(
    fc.constant(undefined),
    fc.string(),
    objectFrame.map((f) => JSON.stringify(f)),
    fc.record({ channel, data: oddValue, key: oddValue, ifOffset: oddValue }).map((b) => JSON.stringify(b)),
    fc.constant('x'.repeat(LIMITS.maxFrameBytes * 2)),
    fc.constant('x'.repeat(LIMITS.maxFrameBytes * 6)),
  ),
  truncate: fc.boolean(),
});

type HttpInput = typeof httpInput extends fc.Arbitrary<infer T> ? T : never;

interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** One request; a streaming answer is read for its first bytes, then dropped. */
function send(input: HttpInput): Promise<HttpAnswer | 'reset'> {
  const query = new URLSearchParams(input.query).toString();
  const body = input.body === undefined ? undefined : Buffer.from(input.body);
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...input.headers };
    // A truncated body: the length promises more than comes, then the client gives up.
    if (body && input.truncate) headers['content-length'] = body.length + 10;
    const req = httpRequest(
      `${srv.url}${input.endpoint}?${query}`,
      { method: input.method, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const contentType = String(res.headers['content-type'] ?? '');
        const streaming = /event-stream|ndjson/.test(contentType);
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (streaming) res.destroy();
        });
        const done = () =>
          resolve({ status: res.statusCode!, contentType, body: Buffer.concat(chunks).toString() });
        res.on('end', done);
        res.on('close', done);
        if (streaming) setTimeout(() => res.destroy(), 50);
      },
    );
    req.on('error', () => resolve('reset'));
    if (body && input.truncate) {
      req.write(body);
      setTimeout(() => req.destroy(), 5);
    } else req.end(body);
  });
}

test(`HTTP: up to ${HTTP_RUNS} runs of random requests, each answered with a typed error or a success`, async () => {
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(httpInput, { minLength: 1, maxLength: 6 }), async (inputs) => {
      for (const input of inputs) {
        sent++;
        const answer = await send(input);
        // A truncated request, or a body far too large the server did not read: the connection may go.
        if (answer === 'reset') {
          assert.ok(
            input.truncate || (input.body?.length ?? 0) > LIMITS.maxFrameBytes,
            'reset without cause',
          );
          continue;
        }
        assert.ok(answer.status < 500, `status ${answer.status} ${answer.body}`);
        if (answer.status >= 400 && input.method !== 'HEAD' && answer.body) {
          const frame = JSON.parse(answer.body);
          assert.equal(frame.type, 'error');
          assert.ok(CODES.has(frame.code), `untyped error ${answer.body}`);
        }
      }
    }),
    {
      seed: SEED,
      numRuns: HTTP_RUNS,
      interruptAfterTimeLimit: HTTP_BUDGET_MS,
      markInterruptAsFailure: false,
    },
  );
  console.log(`HTTP fuzz: ${sent} requests`);
});

test('raw TCP: half-sent requests and garbage do not hurt the server', async () => {
  const garbage = [
    'GET /tidings/poll?channel=room HTTP/1.1\r\nHost: x\r\n',
    'POST /tidings/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"chan',
    '\u0000\u0001\u0002 nonsense\r\n\r\n',
    'GET /tidings/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
  ];
  await Promise.all(
    garbage.map(
      (text) =>
        new Promise<void>((resolve) => {
          const socket = tcpConnect(srv.port, '127.0.0.1', () => {
            socket.write(text);
            setTimeout(() => socket.destroy(), 20);
          });
          socket.on('error', () => {});
          socket.on('close', () => resolve());
        }),
    ),
  );
});

test('the control subscribers got every publish exactly once, in order', async () => {
  clearInterval(ticker);
  const last = (await srv.hub.publish('control', 'last')).offset;
  await control.waitForOffset('control', last);
  await streamControl.waitForOffset('control', last);
  assert.deepEqual(offsets(control.frames, 'control'), range(1, last));
  assert.deepEqual(offsets(streamControl.frames, 'control'), range(1, last));
  assert.ok(control.frames.filter(isMessage('control')).length > 100, 'the stream ran during the fuzz');
  console.log(`control: ${last} messages, none lost or repeated (${published} published on the timer)`);
});
