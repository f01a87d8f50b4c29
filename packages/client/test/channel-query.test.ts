import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCursor } from '@tidings/protocol';
import { channelQuery } from '../src/channel-query.js';

const at = (epoch: string, offset: number) => ({ epoch, offset });

test('names every channel, with a cursor for those that have a position', () => {
  const query = channelQuery([
    { channel: 'chat', since: at('Ab12', 17) },
    { channel: 'news', since: 'now' },
    { channel: 'user:42.inbox', since: at('Xy98', 0) },
  ]);
  assert.deepEqual(query.channels, ['chat', 'news', 'user:42.inbox']);
  assert.equal(query.complete, true);
  const params = new URLSearchParams(query.params);
  assert.deepEqual(params.getAll('channel'), ['chat', 'news', 'user:42.inbox']);
  assert.deepEqual(
    decodeCursor(params.get('cursor')!),
    new Map([
      ['chat', at('Ab12', 17)],
      ['user:42.inbox', at('Xy98', 0)],
    ]),
  );
  assert.equal(params.get('since'), null);
});

test('one request has one `since`: new channels that want `now` wait while others want the snapshot', () => {
  const query = channelQuery([
    { channel: 'a', since: 'now' },
    { channel: 'b', since: 'snapshot' },
    { channel: 'c', since: at('E', 3) },
    { channel: 'd', since: 'snapshot' },
  ]);
  assert.deepEqual(query.channels, ['b', 'c', 'd']);
  assert.equal(query.complete, false);
  assert.equal(new URLSearchParams(query.params).get('since'), 'snapshot');
  // Once b and d have positions, the next request takes `a` too.
  const next = channelQuery([
    { channel: 'a', since: 'now' },
    { channel: 'b', since: at('E', 1) },
    { channel: 'c', since: at('E', 3) },
    { channel: 'd', since: at('E', 0) },
  ]);
  assert.deepEqual(next.channels, ['a', 'b', 'c', 'd']);
  assert.equal(next.complete, true);
});

test('no channels: nothing to ask for', () => {
  assert.deepEqual(channelQuery([]), { params: [], channels: [], complete: true });
});
