import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type Chat, startChat } from '../chat-server.js';
import { browserMissing, launch } from './browser.js';
import { lines, openChat, say, sleep, waitForLines } from './chat-page.js';

const skip = browserMissing();

/** `m<from>` … `m<to>` as the log shows the server's messages. */
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `Server: m${from + i}`);

describe('the chat as a showcase, in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('each message shows the time it was published; a new chat shows no reset notice', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const page = await openChat(browser, chat.url, 'Alice');
    const sent = Date.now();
    await say(page, 'what time is it?');
    await waitForLines(page, 1);
    const time = await page.$eval('#log li.message time', (el) => ({
      datetime: (el as HTMLTimeElement).dateTime,
      text: el.textContent,
      title: el.getAttribute('title'),
    }));
    const published = Date.parse(time.datetime);
    assert.ok(Math.abs(published - sent) < 5_000, `${time.datetime} is about now`);
    assert.match(time.text ?? '', /^\d{1,2}:\d{2}/);
    assert.ok(time.title, 'the full date and time on hover');
    assert.equal(await page.$('#log .notice'), null);
    await page.close();
  });

  test('a message written over several lines (Shift+Enter) arrives with its lines', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const alice = await openChat(browser, chat.url, 'Alice');
    const bob = await openChat(browser, chat.url, 'Bob');
    await alice.click('#text');
    await alice.keyboard.type('first line');
    await alice.keyboard.press('Shift+Enter');
    await alice.keyboard.type('second line');
    await alice.keyboard.press('Enter');
    assert.deepEqual(await waitForLines(bob, 1), ['Alice: first line\nsecond line']);
    await say(bob, 'one line');
    await waitForLines(bob, 2);
    const shown = await bob.$$eval('#log .text', (els) =>
      els.map((el) => ({
        // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is the point: a line break shown as a space reads "first line second line" here
        text: (el as HTMLElement).innerText,
        height: el.getBoundingClientRect().height,
      })),
    );
    assert.equal(shown[0].text, 'first line\nsecond line');
    assert.ok(shown[0].height > shown[1].height * 1.8, `two lines high: ${JSON.stringify(shown)}`);
    await alice.close();
    await bob.close();
  });

  test('a very long word wraps inside the log: no sideways scrolling', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    const page = await openChat(browser, chat.url, 'Alice');
    await say(page, `https://example.com/${'a'.repeat(400)}`);
    await say(page, 'short');
    await waitForLines(page, 2);
    const layout = await page.evaluate(() => {
      const log = document.getElementById('log')!;
      const [long, short] = [...log.querySelectorAll('.text')].map((el) => el.getBoundingClientRect());
      return {
        scrollWidth: log.scrollWidth,
        clientWidth: log.clientWidth,
        longRight: long.right,
        logRight: log.getBoundingClientRect().right,
        longHeight: long.height,
        shortHeight: short.height,
      };
    });
    assert.ok(layout.scrollWidth <= layout.clientWidth, `no horizontal scroll: ${JSON.stringify(layout)}`);
    assert.ok(layout.longRight <= layout.logRight, 'the word stays inside the log');
    assert.ok(layout.longHeight > layout.shortHeight * 3, 'it wrapped over several lines');
    await page.close();
  });

  test('"Earlier messages" loads the older messages once each, in order, and the live ones go on', async (t) => {
    const chat = await startChat();
    t.after(() => chat.close());
    for (let i = 1; i <= 75; i++) await chat.hub.publish('chat', { name: 'Server', text: `m${i}` });
    const page = await openChat(browser, chat.url, 'Late');
    // On join: the newest 30.
    await waitForLines(page, 30);
    await sleep(300);
    assert.deepEqual(await lines(page), range(46, 75));
    assert.equal(await page.isVisible('#earlier'), true);

    // Read from the top, then two clicks at once: one page loads, the button waits for its answer.
    await page.evaluate(() => {
      document.getElementById('log')!.scrollTop = 0;
      const button = document.getElementById('earlier')!;
      button.click();
      button.click();
    });
    await waitForLines(page, 60);
    await sleep(300);
    assert.deepEqual(await lines(page), range(16, 75));
    // The reader stays where they were: the message that was on top is still in view.
    const stays = await page.evaluate(() => {
      const log = document.getElementById('log')!;
      const m46 = log.querySelector('li[data-offset="46"]')!.getBoundingClientRect();
      const box = log.getBoundingClientRect();
      return m46.top >= box.top && m46.top < box.bottom;
    });
    assert.ok(stays, 'the former first message stays in view');
    assert.equal(await page.isVisible('#earlier'), true);

    await page.click('#earlier');
    await waitForLines(page, 75);
    await page.waitForSelector('#earlier', { state: 'hidden' });
    assert.deepEqual(await lines(page), range(1, 75));

    await chat.hub.publish('chat', { name: 'Server', text: 'm76' });
    await waitForLines(page, 76);
    assert.deepEqual(await lines(page), range(1, 76));
    await page.close();
  });

  for (const transport of ['websocket', 'longpoll'] as const) {
    test(`a server that lost its history: the log says so, then goes on (${transport})`, async (t) => {
      // In memory: a restart loses the conversation, as a server without a store would.
      const first = await startChat();
      let current: Chat = first;
      t.after(async () => {
        await current.close();
        await current.hub.close();
      });
      for (let i = 1; i <= 3; i++) await first.hub.publish('chat', { name: 'Server', text: `m${i}` });
      const page = await openChat(browser, first.url, 'Alice', transport);
      await waitForLines(page, 3);

      await first.close();
      await first.hub.close();
      current = await startChat({ port: first.port });
      await page.waitForSelector('#log .notice', { timeout: 20_000 });
      assert.match((await page.textContent('#log .notice')) ?? '', /history was reset/);
      assert.deepEqual(await lines(page), [], 'the messages the server no longer has are gone');

      await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'connected');
      await say(page, 'still here');
      assert.deepEqual(await waitForLines(page, 1), ['Alice: still here']);
      assert.equal(await page.$$eval('#log .notice', (els) => els.length), 1);
      assert.equal(await page.isVisible('#earlier'), false);
      await page.close();
    });
  }
});
