import type { ClientOptions } from '@switchboard/client';
import type { ReactNode } from 'react';
import { createContext, createElement, SwitchboardClient, useContext, useEffect, useRef, useState } from './externals.js';
import { type Registry, registryOf } from './registry.js';

/** `{ client }`: the app's own client (it connects and closes it). */
export interface ClientProviderProps {
  client: SwitchboardClient;
  children?: ReactNode;
}

/** `{ url, getToken }`: the provider creates the client in the browser, connects it, and closes it on unmount. */
export interface UrlProviderProps {
  url: string;
  getToken: () => Promise<string>;
  /** Further client options (`WebSocket` on Node, `backoff`, …); read once, when the client is made. */
  options?: Omit<ClientOptions, 'getToken' | 'token'>;
  children?: ReactNode;
}

export type SwitchboardProviderProps = ClientProviderProps | UrlProviderProps;

const RegistryContext = createContext<Registry | null | undefined>(undefined);

/** The provider's client's shared stores; null before the provider's client exists (server, first render). */
export function useRegistry(): Registry | null {
  const registry = useContext(RegistryContext);
  if (registry === undefined) throw new Error('Switchboard hooks must be used inside <SwitchboardProvider>');
  return registry;
}

/** The client of the nearest provider, or null before it exists (on the server, and in the first render of `{ url }`). */
export function useClient(): SwitchboardClient | null {
  return useRegistry()?.client ?? null;
}

/**
 * Gives the hooks below it a client. With `url` and `getToken` it makes the client in the
 * browser (never on the server: there the hooks render their loading snapshots), connects
 * it on mount and closes it on unmount; the URL and options are read once (remount with a
 * `key` to change them). Under StrictMode's mount-unmount-mount it opens one socket.
 *
 * @example
 * <SwitchboardProvider url="wss://rt.example.com/ws" getToken={fetchToken}>
 *   <App />
 * </SwitchboardProvider>
 */
export function SwitchboardProvider(props: SwitchboardProviderProps): ReactNode {
  const given = 'client' in props ? props.client : null;
  const tokenRef = useRef<(() => Promise<string>) | null>(null);
  tokenRef.current = 'getToken' in props ? props.getToken : null;
  const [made] = useState<SwitchboardClient | null>(() => {
    if (!('url' in props) || typeof window === 'undefined') return null;
    return new SwitchboardClient(props.url, { ...props.options, getToken: () => (tokenRef.current as () => Promise<string>)() });
  });
  const closing = useRef(false);

  useEffect(() => {
    if (made === null) return;
    closing.current = false;
    if (made.state === 'disconnected') made.connect();
    return () => {
      // A microtask later, unless the effect ran again in between (StrictMode's double run).
      closing.current = true;
      queueMicrotask(() => {
        if (closing.current) made.disconnect();
      });
    };
  }, [made]);

  const client = given ?? made;
  const registry = client === null ? null : registryOf(client);
  return createElement(RegistryContext.Provider, { value: registry }, props.children);
}
