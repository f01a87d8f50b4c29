// The test page, bundled by esbuild (react-dom's development build, so StrictMode really runs every
// effect twice) and driven from the tests through `window.harness`. Components write what they render
// into the DOM; what their handlers see goes into `harness` arrays.
import { type Client, connect, type Position, type SinceSpec } from '@tidings/client';
import { createElement as h, StrictMode, useEffect } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { TidingsProvider, useChannel, useClient, useConnectionState, usePresence } from '../../src/index.js';

export interface MountOptions {
  url: string;
  token: string;
  channel: string;
  since?: SinceSpec;
  /** What to render: a message log (twice: two components on one channel), or the channel's members. */
  view: 'log' | 'two-logs' | 'presence';
}

export interface Harness {
  mount(options: MountOptions): void;
  unmount(): void;
  /** `data` of each message each log's `onMessage` saw, by log. */
  received: unknown[][];
  /** Mount effects run (StrictMode: twice per component in development). */
  effects: number;
  subscribes: number;
  unsubscribes: number;
  /** The connection states rendered, consecutive repeats left out. */
  states: string[];
  /** The client's transport (`client.transport`) at each `connected` in `states`. */
  transports: string[];
  client: Client | undefined;
}

const harness: Harness = {
  received: [],
  effects: 0,
  subscribes: 0,
  unsubscribes: 0,
  states: [],
  transports: [],
  client: undefined,
  mount,
  unmount,
};
(window as unknown as { harness: Harness }).harness = harness;

let root: Root | undefined;

function mount({ url, token, channel, since, view }: MountOptions): void {
  const client = connect(url, { token, backoff: () => 50 });
  count(client);
  harness.client = client;
  harness.received = [[], []];
  const element = document.createElement('div');
  document.body.append(element);
  root = createRoot(element);
  const children =
    view === 'presence'
      ? [h(Members, { key: 'm', channel })]
      : [0, 1]
          .slice(0, view === 'two-logs' ? 2 : 1)
          .map((index) => h(Log, { key: index, index, channel, since }));
  root.render(h(StrictMode, null, h(TidingsProvider, { client }, h(ConnectionState), ...children)));
}

function unmount(): void {
  root?.unmount();
  root = undefined;
}

/** Counts the client's subscribes and the handles' unsubscribes: the wire churn StrictMode must not cause. */
function count(client: Client): void {
  const subscribe = client.subscribe.bind(client);
  client.subscribe = ((...args: Parameters<Client['subscribe']>) => {
    harness.subscribes++;
    const subscription = subscribe(...args);
    const unsubscribe = subscription.unsubscribe.bind(subscription);
    subscription.unsubscribe = () => {
      harness.unsubscribes++;
      unsubscribe();
    };
    return subscription;
  }) as Client['subscribe'];
}

function Log({ index, channel, since }: { index: number; channel: string; since?: Position | string }) {
  useEffect(() => {
    harness.effects++;
  }, []);
  const { messages, status, error } = useChannel(channel, {
    since: since as SinceSpec | undefined,
    limit: 10_000,
    onMessage: (message) => harness.received[index].push(message.data),
  });
  return h(
    'section',
    { 'data-log': index, 'data-status': status, 'data-error': error?.code ?? '' },
    h(
      'ol',
      null,
      messages.map((m) => h('li', { key: `${m.epoch}:${m.offset}` }, JSON.stringify(m.data))),
    ),
  );
}

function Members({ channel }: { channel: string }) {
  const { members, status, error } = usePresence(channel);
  const users = members.map((m) => m.user).sort();
  return h('p', { id: 'members', 'data-status': status, 'data-error': error?.code ?? '' }, users.join(','));
}

function ConnectionState() {
  const client = useClient();
  const state = useConnectionState();
  useEffect(() => {
    if (harness.states.at(-1) === state) return;
    harness.states.push(state);
    if (state === 'connected') harness.transports.push(client.transport);
  }, [state, client]);
  return h('p', { id: 'state' }, state);
}
