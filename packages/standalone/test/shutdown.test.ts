import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openSse, openWs, serve, tempConfig } from './support.js';

describe('graceful shutdown of the real process', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: connected clients get disconnect SHUTTING_DOWN (reconnect), then the process exits 0`, async () => {
      const file = await tempConfig({ port: 0, host: '127.0.0.1', shutdownDeadlineMs: 3_000 });
      const server = await serve(['--config', file]);
      const ws = await openWs(server.url);
      ws.send({ type: 'subscribe', id: 1, channel: 'news' });
      await ws.next((frame) => frame.type === 'subscribed');
      const sse = await openSse(`${server.url}/tidings/sse?channel=news`);
      await sse.next((frame) => frame.type === 'subscribed');

      const started = Date.now();
      server.child.kill(signal);
      const frame = await ws.next((f) => f.type === 'disconnect');
      assert.equal(frame.code, 'SHUTTING_DOWN');
      assert.equal(frame.reconnect, true);
      assert.deepEqual(await ws.closed, { code: 4503, reason: 'SHUTTING_DOWN' });
      const sseFrame = await sse.next((f) => f.type === 'disconnect');
      assert.equal(sseFrame.code, 'SHUTTING_DOWN');

      const { code, signal: killedBy } = await server.exited;
      assert.equal(killedBy, null);
      assert.equal(code, 0);
      assert.ok(Date.now() - started < 3_000, 'clients that leave promptly do not wait for the deadline');
      const messages = server.logs.map((entry) => entry.msg);
      assert.deepEqual(messages.slice(-3), ['shutting down', 'draining', 'stopped']);
      assert.equal(server.logs.at(-3)!.signal, signal);
    });
  }

  test('a client that stays past the deadline is cut, and the process still exits 0', async () => {
    const file = await tempConfig({ port: 0, host: '127.0.0.1', shutdownDeadlineMs: 300 });
    const server = await serve(['--config', file]);
    const ws = await openWs(server.url);
    // Ignore the close handshake: this client never answers it.
    (ws.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    assert.equal(code, 0);
  });
});
