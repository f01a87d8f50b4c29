import { Endpoint } from '@tidings/protocol';
import { polling } from '../polling.js';
import type { TransportKind } from '../transport.js';

/** Long-polling: each request waits at the server until there is something to deliver. */
export const longpoll: TransportKind = {
  needs: 'fetch',
  open: (host) => polling(host, Endpoint.longpoll, 0),
};
