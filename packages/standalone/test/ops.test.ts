import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { api, closedPort, openWs, startInProcess } from './support.js';

/** The value of one sample in Prometheus text (0 when the series is absent). */
function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

async function metrics(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return response.text();
}

describe('operations', () => {
  test('/healthz: 200 {"status":"ok"} on a working engine', async () => {
    const { url } = await startInProcess();
    const response = await fetch(`${url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  test('/healthz: 503 with a Redis engine pointed at a closed port; the server still starts', async () => {
    const port = await closedPort();
    const { url } = await startInProcess({
      engine: { type: 'redis', url: `redis://127.0.0.1:${port}`, timeoutMs: 500 },
    });
    const started = Date.now();
    const response = await fetch(`${url}/healthz`);
    assert.ok(Date.now() - started < 3_000, 'a load balancer gets its answer quickly');
    assert.equal(response.status, 503);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.status, 'unavailable');
    assert.ok(body.code === 'ENGINE_UNAVAILABLE' || body.code === 'TIMEOUT', String(body.code));
    // The API says the same with the code a backend retries on.
    const publish = await api(url, 'POST', '/publish', { channel: 'a', data: 1 });
    assert.equal(publish.status, 503);
    assert.equal(publish.body.code, 'ENGINE_UNAVAILABLE');
  });

  test('shutdown: a load balancer no longer gets 200 from /healthz once the drain starts', async () => {
    const standalone = await startInProcess();
    const ws = await openWs(standalone.url);
    const closing = standalone.close();
    // The listener closes at once (new connections are refused); a request already on its way sees 503.
    const health = await fetch(`${standalone.url}/healthz`).then(
      async (response) => [response.status, await response.json()],
      () => 'refused',
    );
    assert.ok(health === 'refused' || (health[0] === 503 && health[1].status === 'draining'), String(health));
    const frame = await ws.next((f) => f.type === 'disconnect');
    assert.equal(frame.code, 'SHUTTING_DOWN');
    await closing;
  });

  test('/metrics: connections, publishes, deliveries, errors and engine latency move with traffic', async () => {
    const { url } = await startInProcess({ publish: true });
    const before = await metrics(url);
    for (const name of [
      'tidings_connections',
      'tidings_messages_published_total',
      'tidings_deliveries_total',
      'tidings_slow_consumers_total',
      'tidings_errors_total',
      'tidings_engine_seconds',
      'tidings_api_requests_total',
      'process_cpu_user_seconds_total',
    ]) {
      assert.match(before, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.equal(sample(before, 'tidings_connections{transport="websocket"}'), 0);
    assert.equal(sample(before, 'tidings_messages_published_total'), 0);

    const ws = await openWs(url);
    ws.send({ type: 'subscribe', id: 1, channel: 'news' });
    await ws.next((frame) => frame.type === 'subscribed');
    ws.send({ type: 'publish', id: 2, channel: 'news', data: { from: 'client' } });
    await ws.next((frame) => frame.type === 'ack' && frame.id === 2);
    await api(url, 'POST', '/publish', { channel: 'news', data: { from: 'api' } });
    await api(
      url,
      'POST',
      '/publish',
      { channel: 'news', data: { from: 'api' } },
      { 'x-api-key': 'wrong-key' },
    );
    ws.send({ type: 'subscribe', id: 3, channel: 'bad channel' });
    await ws.next((frame) => frame.type === 'error' && frame.id === 3);
    await ws.next((frame) => frame.type === 'message' && (frame.data as { from: string }).from === 'api');

    const during = await metrics(url);
    assert.equal(sample(during, 'tidings_connections{transport="websocket"}'), 1);
    assert.equal(
      sample(during, 'tidings_messages_published_total'),
      2,
      'one client publish, one API publish',
    );
    assert.equal(sample(during, 'tidings_deliveries_total'), 2);
    assert.equal(sample(during, 'tidings_engine_seconds_count{operation="publish",outcome="ok"}'), 2);
    assert.equal(sample(during, 'tidings_errors_total{code="UNAUTHORIZED"}'), 1);
    assert.equal(sample(during, 'tidings_errors_total{code="INVALID_CHANNEL"}'), 1);
    assert.equal(sample(during, 'tidings_api_requests_total{endpoint="publish",status="200"}'), 1);
    assert.equal(sample(during, 'tidings_api_requests_total{endpoint="publish",status="401"}'), 1);

    ws.ws.close();
    await ws.closed;
    await waitFor(async () => sample(await metrics(url), 'tidings_connections{transport="websocket"}') === 0);
  });

  test('/metrics: a client that stops reading is dropped and counted as a slow consumer', async () => {
    const { url } = await startInProcess({ limits: { maxBufferedBytes: 64 * 1024 } });
    const { port } = new URL(url);
    // A WebSocket client by hand, so it can stop reading: the handshake, one subscribe, then silence.
    const socket = connect(Number(port), '127.0.0.1');
    after(() => socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      'GET /tidings/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(maskedText(JSON.stringify({ type: 'subscribe', id: 1, channel: 'firehose' })));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.pause();
    const data = 'x'.repeat(60_000);
    await waitFor(async () => {
      await Promise.all(
        Array.from({ length: 20 }, () => api(url, 'POST', '/publish', { channel: 'firehose', data })),
      );
      return sample(await metrics(url), 'tidings_slow_consumers_total') === 1;
    }, 20_000);
    const text = await metrics(url);
    assert.equal(sample(text, 'tidings_disconnects_total{code="SLOW_CONSUMER"}'), 1);
  });

  test('/tidings.js serves the browser client as one script defining Tidings', async () => {
    const { url } = await startInProcess();
    const response = await fetch(`${url}/tidings.js`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/javascript/);
    const script = await response.text();
    assert.match(script, /globalThis.Tidings=/);
    const off = await startInProcess({ clientScript: false });
    assert.equal((await fetch(`${off.url}/tidings.js`)).status, 404);
    const unknown = await fetch(`${url}/nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'INVALID_FIELD');
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A client-to-server WebSocket text frame (masked, as RFC 6455 requires of clients). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = Buffer.from([1, 2, 3, 4]);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}
