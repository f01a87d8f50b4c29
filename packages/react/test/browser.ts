// What the two browser test files (react.test.ts, vite.test.ts) share: Chromium launched with the
// project's flags, a real HTTP server on 127.0.0.1 for the page, a page that fails its test on any error,
// and the counting helpers (both pages render each log as `[data-log=i] li`, one message's data each).
//
// The page is served by a real server, not by Playwright's `route`: Chromium's local network access
// checks block a page served through `route` from opening a WebSocket to 127.0.0.1
// (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS), and the client then fell back to SSE, so the
// tests never ran on the WebSocket.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, ErrorCode, isTidingsError } from '@tidings/client';
import type { Listening } from '@tidings/testing';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';

export { browserMissing, launchBrowser } from '../../client/test/support/browser.js';

// A bound for failures, not a pace: on a loaded 2-core machine with two Chromiums, React's development
// build may take over 10 s to render a 300-item log one message at a time (seen with both files running).
export const TIMEOUT_MS = 45_000;

type TestContext = { after(fn: () => unknown): void };

/** A static site on 127.0.0.1, on its own origin (as a CDN or `vite preview` would be). */
export interface Site {
  /** `http://127.0.0.1:<port>`: the page's origin, to allow on the Tidings server. */
  origin: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Serves `source` on 127.0.0.1, port 0: the files of a directory, or a map of paths to contents. `/` is
 * `/index.html`; the content type follows the extension.
 */
export async function serve(source: string | Record<string, string>): Promise<Site> {
  const read = async (path: string): Promise<string | Buffer | undefined> => {
    if (typeof source !== 'string') return source[path];
    const file = normalize(join(source, path));
    if (!file.startsWith(source)) return undefined;
    return readFile(file).catch(() => undefined);
  };
  const server: Server = createServer(async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const path = pathname === '/' ? '/index.html' : pathname;
    const body = await read(path);
    if (body === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A new page in its own browser context, not navigated yet (the caller may listen to it first). An error
 * thrown in the page or logged to its console fails the test.
 */
export async function openPage(browser: Browser, t: TestContext): Promise<Page> {
  const context = await browser.newContext();
  t.after(() => context.close());
  // tsx compiles the functions given to `evaluate` with keepNames, which calls a Node-only helper.
  await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  t.after(() => assert.deepEqual(errors, [], 'no error in the page'));
  return page;
}

/** Whether one client can subscribe twice to a channel (shared subscriptions); without, ALREADY_SUBSCRIBED. */
export async function sharesSubscriptions(server: Listening): Promise<boolean> {
  const client = connect(server.url, { WebSocket });
  try {
    client.subscribe('probe', () => {});
    client.subscribe('probe', () => {});
    return true;
  } catch (error) {
    if (isTidingsError(error) && error.code === ErrorCode.alreadySubscribed) return false;
    throw error;
  } finally {
    client.close();
  }
}

/** Publishes from..from+count-1 from the server, one every ~2 ms. */
export async function publishing(
  server: Listening,
  channel: string,
  from: number,
  count: number,
): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await server.hub.publish(channel, i);
    await sleep(2);
  }
}

export const range = (from: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => from + i);

/** What each log renders: the data of its <li>s, in order. */
export function rendered(page: Page, index = 0): Promise<unknown[]> {
  return page.$$eval(`[data-log="${index}"] li`, (items) => items.map((li) => JSON.parse(li.textContent!)));
}

/** Waits until log `index` renders `count` messages; on a timeout, says how many it did and `explain()`. */
export async function waitRendered(
  page: Page,
  count: number,
  index = 0,
  explain: () => Promise<string> = async () => '',
): Promise<void> {
  try {
    await page.waitForFunction(
      ([index, count]) => document.querySelectorAll(`[data-log="${index}"] li`).length >= count,
      [index, count] as const,
      { timeout: TIMEOUT_MS },
    );
  } catch (error) {
    // Say whether messages were missing or only slow to render.
    const shown = await rendered(page, index);
    throw new Error(
      `${shown.length}/${count} rendered; ${await explain()}; first rendered ${JSON.stringify(shown.slice(0, 3))}`,
      { cause: error },
    );
  }
}

/** Waits until log `index` says it is subscribed. */
export async function waitSubscribed(page: Page, index = 0): Promise<void> {
  await page.waitForSelector(`[data-log="${index}"][data-status="subscribed"]`, {
    state: 'attached',
    timeout: TIMEOUT_MS,
  });
}
