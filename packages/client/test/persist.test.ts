// `persist: true` is the page's sessionStorage where there is one, and nothing in Node: the README's
// example runs in Node as written (it threw `ReferenceError: sessionStorage is not defined`).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { connect, type Message } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { startServer } from './support/server.js';

test('the README example connects in Node, without sessionStorage', async (t) => {
  assert.equal(typeof (globalThis as { sessionStorage?: unknown }).sessionStorage, 'undefined');
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  assert.match(readme, /persist: true,/);
  const server = await startServer();
  t.after(() => server.close());
  const client = connect(server.origin, { WebSocket, persist: true });
  t.after(() => client.close());
  const seen: Message[] = [];
  const chat = client.subscribe('chat', (message) => seen.push(message));
  await waitFor(() => chat.state === 'subscribed', 5000, 'subscribed');
  await server.hub.publish('chat', 'hi');
  await waitFor(() => seen.length === 1, 5000, 'message');
});

test('persist: true keeps positions in sessionStorage where there is one', async (t) => {
  const items = new Map<string, string>();
  const global = globalThis as { sessionStorage?: unknown };
  global.sessionStorage = {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
  t.after(() => delete global.sessionStorage);
  const server = await startServer();
  t.after(() => server.close());
  const client = connect(server.origin, { WebSocket, persist: true });
  t.after(() => client.close());
  const seen: Message[] = [];
  const chat = client.subscribe('chat', (message) => seen.push(message));
  await waitFor(() => chat.state === 'subscribed', 5000, 'subscribed');
  await server.hub.publish('chat', 'hi');
  await waitFor(() => seen.length === 1, 5000, 'message');
  assert.ok([...items.values()].includes(`${seen[0].epoch}:${seen[0].offset}`));
});
