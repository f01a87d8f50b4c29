import type { Browser, Page } from 'playwright-core';

/** Opens the chat as `name` (optionally on one transport) and waits until it is connected. */
export async function openChat(
  browser: Browser,
  url: string,
  name: string,
  transport?: string,
): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error));
  await page.goto(`${url}/${name}${transport ? `?transport=${transport}` : ''}`);
  await waitForConnected(page, 15_000);
  return page;
}

export async function waitForConnected(page: Page, timeout: number): Promise<void> {
  await page.waitForFunction(
    () => document.getElementById('status')?.dataset.state === 'connected',
    undefined,
    { timeout },
  );
}

export async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('button[type=submit]');
}

/** The log's messages as "name: text" lines (notices left out). */
export function lines(page: Page): Promise<string[]> {
  return page.$$eval('#log li.message', (items) =>
    items.map((li) => `${li.querySelector('.name')?.textContent}: ${li.querySelector('.text')?.textContent}`),
  );
}

export async function waitForLines(page: Page, count: number, timeout = 15_000): Promise<string[]> {
  await page.waitForFunction((n) => document.querySelectorAll('#log li.message').length >= n, count, {
    timeout,
  });
  return lines(page);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
