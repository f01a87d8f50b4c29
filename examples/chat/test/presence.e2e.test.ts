import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startChat } from '../chat-server.js';
import { browserMissing, launch } from './browser.js';
import { openChat } from './chat-page.js';

const skip = browserMissing();

function waitForOnline(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction((want) => document.getElementById('online')?.textContent === want, text, {
    timeout: 15_000,
  });
}

describe('who is online, in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('Alice sees Bob online once he opens the chat, and not after he closes it', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const alice = await openChat(browser, chat.url, 'Alice');
    await waitForOnline(alice, 'Online: Alice');
    const bob = await openChat(browser, chat.url, 'Bob');
    await waitForOnline(alice, 'Online: Alice, Bob');
    await waitForOnline(bob, 'Online: Alice, Bob');
    // A second tab of Bob's is still one Bob.
    const bobAgain = await openChat(browser, chat.url, 'Bob');
    await waitForOnline(bobAgain, 'Online: Alice, Bob');
    await bobAgain.close();
    await bob.close();
    await waitForOnline(alice, 'Online: Alice');
    assert.deepEqual(
      (await chat.hub.presence('chat')).map((member) => member.user),
      ['Alice'],
    );
    await alice.close();
  });
});
