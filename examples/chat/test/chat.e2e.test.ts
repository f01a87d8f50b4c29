import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type Chat, startChat } from '../chat-server.js';
import { browserMissing, launch } from './browser.js';
import { lines, openChat, say, waitForLines } from './chat-page.js';

const skip = browserMissing();
const TRANSPORTS = ['websocket', 'sse', 'stream', 'longpoll', 'poll'] as const;

describe('chat in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('the page shows "Chatting as <name>", the log, a text area and a Send button', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const page = await openChat(browser, chat.url, 'Alice');
    assert.equal(await page.textContent('h1'), 'Chatting as Alice');
    assert.equal(await page.getAttribute('#text', 'placeholder'), 'Say something nice');
    assert.equal(await page.textContent('button[type=submit]'), 'Send');
    await say(page, 'Hello from Alice');
    await waitForLines(page, 1);
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/chat.png' });
    await page.close();
  });

  for (const transport of TRANSPORTS) {
    test(`Alice and Bob see each other's messages exactly once, in order (${transport})`, async (t) => {
      const chat = await startChat();
      t.after(() => chat.close());
      const alice = await openChat(browser, chat.url, 'Alice', transport);
      const bob = await openChat(browser, chat.url, 'Bob', transport);
      const expected: string[] = [];
      for (let i = 0; i < 5; i++) {
        await say(alice, `a${i}`);
        expected.push(`Alice: a${i}`);
        await waitForLines(bob, expected.length);
        await say(bob, `b${i}`);
        expected.push(`Bob: b${i}`);
        await waitForLines(alice, expected.length);
      }
      await say(alice, '   ');
      const settled = await Promise.all([
        waitForLines(alice, expected.length),
        waitForLines(bob, expected.length),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await lines(alice), expected);
      assert.deepEqual(await lines(bob), expected);
      assert.deepEqual(settled[0], expected);
      // The transport is named discreetly, below the form; the status says only the state.
      assert.equal(await alice.textContent('#transport'), `via ${transport}`);
      assert.equal(await alice.textContent('#status'), 'connected');
      await alice.close();
      await bob.close();
    });
  }

  test('names and messages are text, never HTML', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const page = await openChat(browser, chat.url, encodeURIComponent('<b>Mallory</b>'));
    await say(page, '<img src=x onerror="window.pwned=1">');
    await waitForLines(page, 1);
    assert.equal(await page.$('#log img'), null);
    assert.equal(await page.$('#log b'), null);
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
    assert.deepEqual(await lines(page), ['<b>Mallory</b>: <img src=x onerror="window.pwned=1">']);
    await page.close();
  });

  for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
    test(`a message too large fails alone, unsent; the next one arrives (${transport})`, async (t) => {
      const chat = await startChat();
      t.after(() => chat.close());
      const page = await openChat(browser, chat.url, 'Alice', transport);
      await page.evaluate(() => {
        const w = window as unknown as { states: string[]; client?: unknown };
        w.states = [];
        new MutationObserver(() => {
          w.states.push(document.getElementById('status')!.dataset.state!);
        }).observe(document.getElementById('status')!, { attributes: true });
      });
      for (const kib of [200, 600]) {
        const big = 'x'.repeat(kib * 1024);
        await page.evaluate((text) => {
          (document.getElementById('text') as HTMLTextAreaElement).value = text;
        }, big);
        await page.click('button[type=submit]');
        await page.waitForFunction(() => document.getElementById('problem')!.textContent !== '', undefined, {
          timeout: 15_000,
        });
        // Said in words, with the sizes, and not as a connection problem.
        assert.equal(
          await page.textContent('#problem'),
          `That message is too long to send (${kib + 1} KB; the most is 64 KB). Shorten it and press Send again.`,
        );
        assert.equal(await page.textContent('#status'), 'connected');
        // The text stays in the box, for the user to shorten.
        assert.equal(await page.$eval('#text', (el) => (el as HTMLTextAreaElement).value.length), big.length);
        await page.evaluate(() => {
          document.getElementById('problem')!.textContent = '';
        });
      }
      await page.fill('#text', 'small enough');
      await page.click('button[type=submit]');
      assert.deepEqual(await waitForLines(page, 1), ['Alice: small enough']);
      const states = await page.evaluate(() => (window as unknown as { states: string[] }).states);
      assert.ok(!states.includes('connecting'), `no reconnect: ${states}`);
      assert.equal((await chat.hub.position('chat')).offset, 1, 'only the small message was published');
      await page.close();
    });
  }

  test('a newcomer sees the earlier messages on join', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    for (let i = 1; i <= 3; i++) await chat.hub.publish('chat', { name: 'Server', text: `m${i}` });
    const page = await openChat(browser, chat.url, 'Late');
    assert.deepEqual(await waitForLines(page, 3), ['Server: m1', 'Server: m2', 'Server: m3']);
    await page.close();
  });

  for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
    test(`a server restart mid-conversation loses and doubles nothing (${transport})`, async (t) => {
      const first = await startChat();
      const { hub, port } = first;
      let current: Chat = first;
      t.after(() => current.close());
      const alice = await openChat(browser, first.url, 'Alice', transport);
      const bob = await openChat(browser, first.url, 'Bob', transport);
      const expected: string[] = [];
      for (let i = 1; i <= 30; i++) {
        if (i === 11) {
          // Every connection is cut; messages keep coming while no server listens; then it is back.
          await current.close();
        }
        if (i === 21) current = await startChat({ hub, port });
        await hub.publish('chat', { name: 'Server', text: `n${i}` });
        expected.push(`Server: n${i}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const got = await Promise.all([waitForLines(alice, 30), waitForLines(bob, 30)]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(await lines(alice), expected);
      assert.deepEqual(await lines(bob), expected);
      assert.equal(got[0].length, 30);
      await alice.close();
      await bob.close();
    });
  }
});
