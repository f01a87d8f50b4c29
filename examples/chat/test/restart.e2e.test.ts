import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { browserMissing, launch } from './browser.js';
import { lines, openChat, say, waitForConnected, waitForLines } from './chat-page.js';

const skip = browserMissing();
const SERVER = fileURLToPath(new URL('../server.ts', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts the demo exactly as `npm start` does (server.ts), on `port` with its conversation in `db`. */
async function startDemo(port: number, db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=@tidings/source', '--import', 'tsx', SERVER], {
    env: { ...process.env, PORT: String(port), CHAT_DB: db },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start: ${output}`)), 30_000);
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Chat running')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the demo exited with ${code}: ${output}`)));
  });
  return child;
}

async function killNine(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGKILL');
  await exited;
}

describe('the chat demo keeps its conversation across kill -9', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('a page open through kill -9 and restart loses and doubles nothing; a newcomer sees it all', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tidings-chat-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'chat.db');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let demo = await startDemo(port, db);
    t.after(() => killNine(demo));

    const alice = await openChat(browser, url, 'Alice');
    const expected: string[] = [];
    for (let i = 1; i <= 5; i++) {
      await say(alice, `before ${i}`);
      expected.push(`Alice: before ${i}`);
      await waitForLines(alice, expected.length, 20_000);
    }

    await killNine(demo);
    demo = await startDemo(port, db);
    // Alice's page reconnects by itself, resumes from its position (no reset) and can go on.
    await waitForConnected(alice, 30_000);
    await say(alice, 'after');
    expected.push('Alice: after');
    await waitForLines(alice, expected.length, 20_000);

    const bob = await openChat(browser, url, 'Bob');
    assert.deepEqual(await waitForLines(bob, expected.length, 20_000), expected);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await lines(alice), expected);
    assert.equal(await alice.$('#log .notice'), null, 'the history survived: no reset notice');
    await alice.close();
    await bob.close();
  });
});
