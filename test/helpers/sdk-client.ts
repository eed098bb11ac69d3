import { SwitchboardClient } from '@switchboard/client';
import WebSocket from 'ws';

/**
 * A connected SDK client over real WebSockets, with quick, deterministic reconnects (no
 * jitter, 10–50 ms backoff), as the tests that cut connections want it; `cleanup` gets its
 * disconnect. Resolves once it is connected.
 */
export async function connectedClient(url: string, getToken: () => Promise<string>, cleanup: Array<() => void>): Promise<SwitchboardClient> {
  const c = new SwitchboardClient(url, {
    getToken,
    WebSocket,
    transports: ['websocket'],
    random: () => 0,
    backoff: { minDelay: 10, maxDelay: 50 },
  });
  cleanup.push(() => c.disconnect());
  const ready = new Promise((r) => c.once('connected', r));
  c.connect();
  await ready;
  return c;
}
