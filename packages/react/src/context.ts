import type { Client, ClientState } from '@tidings/client';
import { ErrorCode, TidingsError } from '@tidings/client';
import type { ChannelMap, Untyped } from '@tidings/protocol';
import {
  createContext,
  createElement,
  type ReactNode,
  useCallback,
  useContext,
  useSyncExternalStore,
} from 'react';

const TidingsContext = createContext<Client | undefined>(undefined);

export interface TidingsProviderProps {
  /**
   * The client the hooks below use. Create it once, outside any component (`connect(url)` at module
   * level, like a query client): a client made during render would connect again on every render and
   * twice under StrictMode. The provider never closes it.
   */
  client: Client<Untyped>;
  children?: ReactNode;
}

/** Gives the components below it a Tidings client: `<TidingsProvider client={client}>…</TidingsProvider>`. */
export function TidingsProvider({ client, children }: TidingsProviderProps): ReactNode {
  // `.Provider` rather than React 19's `<Context value>`: the peer range starts at React 18.
  return createElement(TidingsContext.Provider, { value: client }, children);
}

/**
 * The client of the nearest `TidingsProvider`, typed with your channel map if you give it
 * (`useClient<Channels>()`). Throws INVALID_FIELD outside a provider: a mistake in the app, not a state.
 */
export function useClient<Map extends ChannelMap = Untyped>(): Client<Map> {
  const client = useContext(TidingsContext);
  if (!client) {
    throw new TidingsError(
      ErrorCode.invalidField,
      'no Tidings client here: render this component inside <TidingsProvider client={…}>',
    );
  }
  return client as Client<Map>;
}

/** The client's connection state (`connecting`, `connected`, `disconnected`), rendered again on each change. */
export function useConnectionState(): ClientState {
  const client = useClient();
  const subscribe = useCallback((listener: () => void) => client.on('state', listener), [client]);
  return useSyncExternalStore(
    subscribe,
    () => client.state,
    // On the server nothing connects: the page starts as the browser will.
    () => 'connecting',
  );
}
