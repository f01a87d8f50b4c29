// A small app as a user would write one: JSX, React 19 in StrictMode, `@tidings/react` imported by its
// package name, built by Vite (see ../vite.test.ts). What to show comes from the query string
// (`?url=…&token=…&channel=…&logs=1|2&since=epoch:offset`); what the handlers saw goes to `window.app`
// for the test to read, what the components render goes to the DOM.
import { type Client, connect, type SinceSpec } from '@tidings/client';
import { TidingsProvider, useChannel, useClient, useConnectionState } from '@tidings/react';
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

export interface AppState {
  /** `data` of each message each log's `onMessage` saw, by log. */
  received: unknown[][];
  /** Mount effects run: StrictMode's development build runs each twice. */
  effects: number;
  /** The connection states rendered, consecutive repeats left out. */
  states: string[];
  /** The client's transport (`client.transport`) at each `connected` in `states`. */
  transports: string[];
}

const state: AppState = { received: [], effects: 0, states: [], transports: [] };
(window as unknown as { app: AppState }).app = state;

const query = new URLSearchParams(location.search);
const [epoch, offset] = (query.get('since') ?? '').split(':');
const since: SinceSpec | undefined = offset === undefined ? undefined : { epoch, offset: Number(offset) };
const logs = Number(query.get('logs') ?? '1');
const channel = query.get('channel') ?? 'lobby';
state.received = Array.from({ length: logs }, () => []);
/** One log per entry, keyed by a name: the logs never reorder. */
const names = state.received.map((_, index) => `log-${index}`);

// A short backoff: the test disconnects the page and expects it back at once.
const client: Client = connect(query.get('url')!, {
  token: query.get('token') ?? undefined,
  backoff: () => 50,
});

function App() {
  const [shown, setShown] = useState(true);
  return (
    <TidingsProvider client={client}>
      <ConnectionState />
      <button type="button" id="hide" onClick={() => setShown(false)}>
        Hide
      </button>
      {shown && names.map((name, index) => <Log key={name} index={index} />)}
    </TidingsProvider>
  );
}

function Log({ index }: { index: number }) {
  useEffect(() => {
    state.effects++;
  }, []);
  const { messages, status, error } = useChannel(channel, {
    since,
    limit: 10_000,
    onMessage: (message) => state.received[index].push(message.data),
  });
  return (
    <section data-log={index} data-status={status} data-error={error?.code ?? ''}>
      <ol>
        {messages.map((m) => (
          <li key={`${m.epoch}:${m.offset}`}>{JSON.stringify(m.data)}</li>
        ))}
      </ol>
    </section>
  );
}

function ConnectionState() {
  const client = useClient();
  const connection = useConnectionState();
  useEffect(() => {
    if (state.states.at(-1) === connection) return;
    state.states.push(connection);
    if (connection === 'connected') state.transports.push(client.transport);
  }, [connection, client]);
  return <p id="state">{connection}</p>;
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
