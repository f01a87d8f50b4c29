import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Cursor,
  closeCode,
  decodeCursor,
  ErrorCode,
  encodeCursor,
  errorAction,
  httpStatus,
  isChannelName,
  isPattern,
  matchesPattern,
  parseClientFrame,
  TidingsError,
} from '@tidings/protocol';
import fc from 'fast-check';

const segment = fc.stringMatching(/^[A-Za-z0-9_\-:@+~!]{1,8}$/);
const channel = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
const epoch = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);
const position = fc.record({ epoch, offset: fc.nat() }, { noNullPrototype: true });

describe('channel names and patterns', () => {
  test('every name built from the grammar is valid and not a pattern', () => {
    fc.assert(
      fc.property(channel, (name) => {
        assert.ok(isChannelName(name));
        assert.ok(!isPattern(name));
        assert.ok(matchesPattern(name, name));
      }),
    );
  });

  test('a name with a character outside the grammar is refused', () => {
    fc.assert(
      fc.property(
        channel,
        fc.constantFrom(' ', '=', ',', '/', '*', '>', '#', 'é', '\n', '"'),
        fc.nat(),
        (name, bad, at) => {
          const i = at % (name.length + 1);
          assert.ok(!isChannelName(name.slice(0, i) + bad + name.slice(i)));
        },
      ),
    );
    for (const name of ['', '.', 'a.', '.a', 'a..b', 'x'.repeat(201)]) assert.ok(!isChannelName(name), name);
  });

  test('`*` matches exactly one segment and a final `>` one or more', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.nat(), (segments, at) => {
        const name = segments.join('.');
        const i = at % segments.length;
        const star = segments.map((s, j) => (j === i ? '*' : s)).join('.');
        assert.ok(isPattern(star));
        assert.ok(matchesPattern(star, name));
        assert.ok(!matchesPattern(star, `${name}.extra`));
        const prefix = segments.slice(0, i);
        const tail = [...prefix, '>'].join('.');
        assert.ok(isPattern(tail));
        assert.ok(matchesPattern(tail, name));
        if (prefix.length > 0) assert.ok(!matchesPattern(tail, prefix.join('.')));
      }),
    );
    assert.ok(!matchesPattern('chat.>', 'chat'));
    assert.ok(matchesPattern('chat.>', 'chat.a.b'));
    assert.ok(!matchesPattern('chat.*', 'chat.a.b'));
  });
});

describe('cursors', () => {
  test('encode then decode gives the same positions back', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(channel, position), { selector: ([c]) => c, maxLength: 20 }),
        (entries) => {
          const cursor: Cursor = new Map(entries);
          assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
        },
      ),
    );
  });

  test('anything else is INVALID_CURSOR, never another exception', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          decodeCursor(text);
        } catch (error) {
          assert.ok(error instanceof TidingsError);
          assert.equal(error.code, ErrorCode.invalidCursor);
        }
      }),
    );
    for (const bad of [
      'chat',
      'chat=',
      'chat=E',
      'chat=E:',
      'chat=E:-1',
      'chat=E:1.5',
      '=E:1',
      'a b=E:1',
      'chat=E:1,',
    ]) {
      assert.throws(() => decodeCursor(bad), { code: ErrorCode.invalidCursor }, bad);
    }
  });
});

describe('client frames', () => {
  test('arbitrary input is either a valid frame or a TidingsError with a stable code', () => {
    const codes = new Set<string>(Object.values(ErrorCode));
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record(
          {
            type: fc.constantFrom(
              'subscribe',
              'unsubscribe',
              'publish',
              'refresh',
              'pong',
              'presence',
              'nope',
              42,
            ),
            id: fc.oneof(fc.nat(), fc.constant(-1), fc.string(), fc.constant(undefined)),
            channel: fc.oneof(channel, fc.string(), fc.constant(7)),
            since: fc.oneof(
              fc.constant('now'),
              fc.constant('snapshot'),
              position,
              fc.string(),
              fc.constant(null),
            ),
            data: fc.jsonValue(),
            key: fc.oneof(fc.string({ maxLength: 200 }), fc.nat()),
            ifOffset: fc.oneof(fc.nat(), fc.double()),
            ttl: fc.oneof(fc.nat(), fc.constant(0), fc.string()),
            token: fc.string(),
          },
          { requiredKeys: ['type'] },
        )
        .map((frame) => JSON.stringify(frame)),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        try {
          const frame = parseClientFrame(text);
          assert.equal(typeof frame.type, 'string');
        } catch (error) {
          assert.ok(error instanceof TidingsError, String(error));
          assert.ok(codes.has(error.code), error.code);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  test('a valid subscribe and publish keep exactly their checked fields', () => {
    fc.assert(
      fc.property(channel, position, fc.nat(), fc.jsonValue(), (name, since, id, data) => {
        assert.deepEqual(
          parseClientFrame(JSON.stringify({ type: 'subscribe', id, channel: name, since, extra: 1 })),
          {
            type: 'subscribe',
            id,
            channel: name,
            since,
          },
        );
        const publish = parseClientFrame(
          JSON.stringify({
            type: 'publish',
            channel: name,
            data,
            key: 'k',
            ifOffset: 3,
            ttl: 5,
            echo: false,
          }),
        );
        assert.deepEqual(publish, {
          type: 'publish',
          channel: name,
          data: JSON.parse(JSON.stringify(data)),
          key: 'k',
          ifOffset: 3,
          ttl: 5,
          echo: false,
        });
      }),
    );
  });

  test('each kind of bad frame has its code', () => {
    const cases: [string, string][] = [
      ['not json', ErrorCode.malformedFrame],
      ['[1,2]', ErrorCode.malformedFrame],
      ['null', ErrorCode.malformedFrame],
      ['{"type":"dance"}', ErrorCode.unknownFrame],
      ['{"type":"subscribe","channel":"a b"}', ErrorCode.invalidChannel],
      ['{"type":"subscribe","channel":"a","since":"yesterday"}', ErrorCode.invalidField],
      ['{"type":"subscribe","channel":"a","id":"1"}', ErrorCode.invalidField],
      ['{"type":"publish","channel":"a"}', ErrorCode.invalidField],
      ['{"type":"publish","channel":"a.*","data":1}', ErrorCode.invalidChannel],
      ['{"type":"publish","channel":"a","data":1,"ttl":0}', ErrorCode.invalidField],
      ['{"type":"refresh","token":""}', ErrorCode.invalidField],
    ];
    for (const [text, code] of cases) assert.throws(() => parseClientFrame(text), { code }, text);
    assert.throws(() => parseClientFrame('x'.repeat(200), 100), { code: ErrorCode.frameTooLarge });
  });
});

describe('error codes', () => {
  test('every code has an action, an HTTP status and a WebSocket close code', () => {
    for (const code of Object.values(ErrorCode)) {
      assert.ok(['retry', 'reconnect', 'fatal'].includes(errorAction(code)), code);
      const status = httpStatus(code);
      assert.ok(status >= 400 && status < 600, code);
      assert.equal(closeCode(code), 4000 + status);
    }
    assert.equal(errorAction('SOMETHING_NEW'), 'fatal');
    assert.equal(httpStatus(ErrorCode.forbidden), 403);
    assert.equal(new TidingsError(ErrorCode.rateLimited, 'slow down').action, 'retry');
  });
});
