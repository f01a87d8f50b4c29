// The README's "Use it in your app" server and page, run as a reader would write them: the server file
// as shown, the page it serves, and a client that subscribes and publishes on it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type Message } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The fenced block of README.md whose first line is `first`. */
function block(readme: string, first: string): string {
  const start = readme.indexOf(`\n${first}\n`);
  assert.ok(start >= 0, `README.md has no block starting with ${first}`);
  return readme.slice(start + 1, readme.indexOf('\n```', start));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('README: the server and page of "Use it in your app" work as shown', { timeout: 60_000 }, async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  // Inside the repository, so that `@tidings/server` resolves to this workspace.
  await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
  const dir = await mkdtemp(join(ROOT, 'test-artifacts', 'readme-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const page = block(readme, '<!-- index.html -->');
  await writeFile(join(dir, 'server.mjs'), block(readme, '// server.mjs'));
  await writeFile(join(dir, 'index.html'), page);

  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.mjs'], {
    cwd: dir,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  after(() => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  const answer = await waitFor(
    () => fetch(url).catch(() => undefined),
    30_000,
    'the README server answering',
  );
  assert.equal(answer.status, 200);
  assert.equal(await answer.text(), page);

  // What the page's script does, from Node.
  const client = connect(url, { WebSocket });
  after(() => client.close());
  const seen: Message[] = [];
  client.subscribe('chat', (message) => seen.push(message));
  const ack = await client.publish('chat', { text: 'hello' });
  assert.equal(ack.channel, 'chat');
  await waitFor(() => seen.some((m) => (m.data as { text: string }).text === 'hello'), 10_000, 'own message');
});
