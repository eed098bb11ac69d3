import { SwitchboardClient } from '@switchboard/client';
import { api, type Session } from '../api';

/** What `POST /api/v1/console/token` answers: a 5-minute connection token for the console's own connection. */
interface ConsoleToken {
  token: string;
  expiresAt: number;
}

/** The server's WebSocket endpoint on the page's own origin (the CSP's `connect-src` allows exactly it). */
export function socketUrl(): string {
  return `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws`;
}

/**
 * The console's own SDK connection, for an admin key: its token comes from
 * `POST /api/v1/console/token` (tenant `_console`, no capability), asked again by the SDK
 * before it expires and refreshed over the live connection. It is not connected yet: the
 * caller connects it (after React's StrictMode re-mount, so no socket is opened and closed
 * at once) and disconnects it when the charts go.
 */
export function consoleClient(session: Session): SwitchboardClient {
  return new SwitchboardClient(socketUrl(), {
    getToken: async () => (await api<ConsoleToken>(session.key, '/console/token', { method: 'POST', body: {} })).token,
  });
}
