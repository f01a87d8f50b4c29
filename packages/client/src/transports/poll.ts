import { Endpoint } from '@tidings/protocol';
import { polling } from '../polling.js';
import type { TransportKind } from '../transport.js';

/** Pause between two polls, ms: the latency a client on this last-resort transport lives with. */
const POLL_INTERVAL_MS = 1_000;

/** Polling: the server answers at once; for networks where even a held request is cut. */
export const poll: TransportKind = {
  needs: 'fetch',
  open: (host) => polling(host, Endpoint.poll, POLL_INTERVAL_MS),
};
