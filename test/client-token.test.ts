import type { ClientStateEvent, SwitchboardClient } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { useRealServer } from '../packages/client/test/real-server.js';
import { waitFor } from '../packages/client/test/wait-for.js';

// No clock skew: the server closes a connection at its token's exp (exp + auth.clockSkew), as the SDK expects here.
const { server, client: createClient } = useRealServer({ auth: { clockSkew: '0s' } });

function states(client: SwitchboardClient): ClientStateEvent[] {
  const log: ClientStateEvent[] = [];
  client.on('state', (e) => log.push(e));
  return log;
}

describe('client SDK against the real server: tokens', () => {
  it('refreshes a short-lived token over the live connection and outlives several lifetimes', async () => {
    const issued: number[] = [];
    let fifthToken: () => void = () => {};
    const fiveTokens = new Promise<void>((resolve) => (fifthToken = resolve));
    const client = createClient({ sub: 'alice' }, {
      getToken: async () => {
        issued.push(Date.now());
        if (issued.length === 5) fifthToken();
        return server().token({ sub: 'alice', ttlSeconds: 3 });
      },
    });
    const seen = states(client);
    const sub = client.subscribe<number>('project:refresh');
    client.connect();
    await waitFor(sub, 'subscribed');
    const session = client.session;
    expect(session?.expires).toBeGreaterThan(Date.now());

    // One token and four refreshes: about two lifetimes, each of which would end in 3003 unrefreshed.
    await fiveTokens;
    const got = waitFor(sub, 'publication');
    await sub.publish(42);
    expect((await got).data).toBe(42);
    expect(seen.map((e) => e.state)).toEqual(['connecting', 'connected']);
    expect(client.session?.client).toBe(session?.client);
    expect(client.session!.expires!).toBeGreaterThan(session!.expires!);
    expect(issued.at(-1)! - issued[0]!).toBeGreaterThan(3_000);
  }, 20_000);

  it('after a failed refresh, reconnects on close 3003 with a fresh token and resubscribes', async () => {
    let calls = 0;
    const client = createClient({ sub: 'bob' }, {
      backoff: { minDelay: 50, maxDelay: 200 },
      getToken: async () => {
        calls += 1;
        if (calls === 2) throw new Error('token service unavailable');
        return server().token({ sub: 'bob', ttlSeconds: 2 });
      },
    });
    const seen = states(client);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.during));
    const sub = client.subscribe('project:expiry');
    client.connect();
    await waitFor(sub, 'subscribed');

    const expired = await waitFor(client, 'connecting', () => true, 6_000);
    expect(expired).toEqual({ code: 3003, reason: 'token expired' });
    const back = await waitFor(sub, 'subscribed', () => true, 6_000);
    expect(back.wasRecovering).toBe(true);
    expect(client.state).toBe('connected');
    expect(calls).toBe(3);
    expect(errors).toContain('refresh');
    expect(seen.map((e) => `${e.state}:${e.code}`)).toEqual(['connecting:0', 'connected:2', 'connecting:3003', 'connected:2']);
  }, 20_000);
});
