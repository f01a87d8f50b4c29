// The request id of a frame too large to parse, read from its first bytes only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leadingRequestId } from '../src/transports/leading-id.js';

const id = (text: string) => leadingRequestId(Buffer.from(text));

test('the id of a frame as clients write it, type first or id first, with any spacing', () => {
  assert.equal(id(`{"type":"publish","id":42,"channel":"a","data":"${'x'.repeat(1e6)}"}`), 42);
  assert.equal(id('{ "type" : "subscribe" , "id" : 7 }'), 7);
  assert.equal(id('{"id":0,"type":"publish"}'), 0);
});

test('no id when the frame does not start the usual way, or the id is not a request id', () => {
  for (const text of [
    '{"channel":"a","id":3}',
    '{"type":"publish","id":-1,',
    '{"type":"publish","id":1e400,',
    '{"type":"publish","id":"9",',
    '{"type":"publish","id":12345678901234567890,',
    `{"type":"${'p'.repeat(300)}","id":5,`,
    `${' '.repeat(300)}{"id":5,`,
    '',
    'not json at all',
  ]) {
    assert.equal(id(text), undefined, text);
  }
});
