import { Agent, request } from 'node:http';
import { DEFAULT_MOUNT_PATH, Endpoint, Query, type ServerFrame } from '@tidings/protocol';
import type { BenchClient, ClientOptions } from '../targets/target.js';
import { handleParsedFrame, resumeCursor } from './tidings-frames.js';

/** One keep-alive agent per load process, as a browser keeps its connections: a poll reuses its socket. */
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

/** What `@tidings/client` waits between two polls (packages/client/src/transports/poll.ts). */
const POLL_INTERVAL_MS = 1_000;

/** An answer of at most this many frames was all there was: the next poll can wait (docs/PROTOCOL.md). */
const MAX_FRAMES = 1_000;

interface PollAnswer {
  frames: ServerFrame[];
  cursor: string;
}

/** Raw-protocol Tidings subscriber over long-polling: each answer's cursor goes with the next request. */
export function connectTidingsLongpoll(options: ClientOptions): Promise<BenchClient> {
  return pollLoop(options, Endpoint.longpoll, 0);
}

/** Raw-protocol Tidings subscriber over polling, every second as `@tidings/client` does (sooner while behind). */
export function connectTidingsPoll(options: ClientOptions): Promise<BenchClient> {
  return pollLoop(options, Endpoint.poll, POLL_INTERVAL_MS);
}

/**
 * The request loop of both: like the client library, the first request does not wait (`wait=0`), so it
 * learns at once where the channel stands; it resolves with that first answer.
 */
function pollLoop(options: ClientOptions, endpoint: string, interval: number): Promise<BenchClient> {
  const base = `${DEFAULT_MOUNT_PATH}${endpoint}?${Query.channel}=${encodeURIComponent(options.channel)}`;
  let cursor = options.since ? resumeCursor(options.channel, options.since) : '';
  let first = true;
  let closed = false;
  let ended = false;
  let current: ReturnType<typeof request> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const client: BenchClient = {
    close: () => {
      closed = true;
      clearTimeout(timer);
      current?.destroy();
    },
  };

  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      if (closed || ended) return;
      ended = true;
      if (first) reject(new Error(reason));
      else options.onClose(reason);
    };
    const guarded: ClientOptions = { ...options, onClose: fail };

    const answered = (answer: PollAnswer) => {
      cursor = answer.cursor;
      for (const frame of answer.frames) handleParsedFrame(frame, guarded);
      if (first) {
        first = false;
        resolve(client);
      }
      if (closed || ended) return;
      if (interval === 0 || answer.frames.length >= MAX_FRAMES) poll();
      else timer = setTimeout(poll, interval);
    };

    const poll = () => {
      let path = base;
      if (cursor !== '') path += `&${Query.cursor}=${encodeURIComponent(cursor)}`;
      if (first && endpoint === Endpoint.longpoll) path += `&${Query.wait}=0`;
      const req = request({ host: '127.0.0.1', port: options.port, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (closed) return;
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return fail(`GET ${endpoint}: HTTP ${res.statusCode} ${text}`);
          let answer: PollAnswer;
          try {
            answer = JSON.parse(text) as PollAnswer;
          } catch (error) {
            return fail(`GET ${endpoint}: ${(error as Error).message}`);
          }
          answered(answer);
        });
        res.on('error', (error) => fail(error.message));
      });
      current = req;
      req.on('error', (error) => fail(error.message));
      req.end();
    };

    poll();
  });
}
