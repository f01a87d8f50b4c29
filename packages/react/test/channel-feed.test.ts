// A hook's store without React, against a real server: what StrictMode and a later remount do to it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Client, connect } from '@tidings/client';
import { listen, waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { ChannelFeed } from '../src/channel-feed.js';

const TIMEOUT_MS = 5_000;

async function setup(t: { after(fn: () => unknown): void }) {
  const server = await listen();
  t.after(() => server.close());
  const client: Client = connect(server.url, { WebSocket, backoff: () => 20 });
  t.after(() => client.close());
  let subscribes = 0;
  const subscribe = client.subscribe.bind(client);
  client.subscribe = ((...args: Parameters<Client['subscribe']>) => {
    subscribes++;
    return subscribe(...args);
  }) as Client['subscribe'];
  return { server, client, subscribes: () => subscribes };
}

const data = (feed: ChannelFeed<unknown>) => feed.getSnapshot().messages.map((m) => m.data);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

test('released, then listened to again: resumes after the last message, none lost or twice', async (t) => {
  const { server, client, subscribes } = await setup(t);
  const feed = new ChannelFeed<unknown>(client, 'resume', { since: undefined, keep: 100 });
  const seen: unknown[] = [];
  feed.handler = (m) => seen.push(m.data);
  let stop = feed.subscribe(() => {});
  stop();
  stop = feed.subscribe(() => {});
  await waitFor(() => feed.getSnapshot().status === 'subscribed', TIMEOUT_MS, 'subscribed');
  assert.equal(subscribes(), 1);
  for (let i = 0; i < 10; i++) await server.hub.publish('resume', i);
  await waitFor(() => seen.length === 10, TIMEOUT_MS, 'ten');
  stop();
  await Promise.resolve();
  // Released: what is published now is picked up by the next listen, from the feed's position.
  for (let i = 10; i < 20; i++) await server.hub.publish('resume', i);
  stop = feed.subscribe(() => {});
  assert.equal(subscribes(), 2);
  await waitFor(() => seen.length === 20, TIMEOUT_MS, 'twenty');
  for (let i = 20; i < 25; i++) await server.hub.publish('resume', i);
  await waitFor(() => seen.length === 25, TIMEOUT_MS, 'twenty-five');
  assert.deepEqual(seen, range(0, 25));
  assert.deepEqual(data(feed), range(0, 25));
  stop();
});

test('a bad channel fails the feed instead of throwing into React', async (t) => {
  const { client } = await setup(t);
  const feed = new ChannelFeed<unknown>(client, 'bad name!', { since: undefined, keep: 10 });
  const stop = feed.subscribe(() => {});
  t.after(stop);
  assert.equal(feed.getSnapshot().status, 'failed');
  assert.equal(feed.getSnapshot().error?.code, 'INVALID_CHANNEL');
});
