import type { ClientStateEvent, SwitchboardClient } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { useRealServer } from '../packages/client/test/real-server.js';
import { waitFor } from '../packages/client/test/wait-for.js';
import { eventually } from './helpers/eventually.js';
import { ManualClock } from './helpers/manual-clock.js';

// One clock for the server and the SDK, moved by the tests: tokens expire and are refreshed
// without wall-clock time passing. Sockets stay real.
const clock = new ManualClock();
// No clock skew: the server closes a connection at its token's exp (exp + auth.clockSkew), as the SDK expects here.
const { server, client: createClient } = useRealServer({ auth: { clockSkew: '0s' }, now: clock.now });
clock.onMove(() => server().server.node.wheel.advance());
const onClock = { now: clock.now, timers: clock.timers };

function states(client: SwitchboardClient): ClientStateEvent[] {
  const log: ClientStateEvent[] = [];
  client.on('state', (e) => log.push(e));
  return log;
}

describe('client SDK against the real server: tokens', () => {
  it('refreshes a short-lived token over the live connection and outlives several lifetimes', async () => {
    const issued: number[] = [];
    const client = createClient(
      { sub: 'alice' },
      {
        ...onClock,
        getToken: async () => {
          issued.push(clock.now());
          return server().token({ sub: 'alice', ttlSeconds: 3 });
        },
      },
    );
    const seen = states(client);
    const sub = client.subscribe<number>('project:refresh');
    client.connect();
    await waitFor(sub, 'subscribed');
    const session = client.session;
    expect(session?.expires).toBeGreaterThan(clock.now());

    // One token and four refreshes: about two lifetimes, each of which would end in 3003 unrefreshed.
    // The earliest timer is the refresh; the server answers before the clock moves on.
    while (issued.length < 5) {
      const expires = client.session!.expires!;
      clock.advanceTo(clock.nextDue()!);
      await eventually(() => client.session!.expires! > expires, 5_000, 'the refreshed expiry');
    }
    const got = waitFor(sub, 'publication');
    await sub.publish(42);
    expect((await got).data).toBe(42);
    expect(seen.map((e) => e.state)).toEqual(['connecting', 'connected']);
    expect(client.session?.client).toBe(session?.client);
    expect(client.session!.expires!).toBeGreaterThan(session!.expires!);
    expect(issued.at(-1)! - issued[0]!).toBeGreaterThan(3_000);
  });

  it('after a failed refresh, reconnects on close 3003 with a fresh token and resubscribes', async () => {
    let calls = 0;
    const client = createClient(
      { sub: 'bob' },
      {
        ...onClock,
        backoff: { minDelay: 50, maxDelay: 200 },
        getToken: async () => {
          calls += 1;
          if (calls === 2) throw new Error('token service unavailable');
          return server().token({ sub: 'bob', ttlSeconds: 2 });
        },
      },
    );
    const seen = states(client);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.during));
    const sub = client.subscribe('project:expiry');
    client.connect();
    await waitFor(sub, 'subscribed');

    // The refresh timer fires and getToken fails; too close to expiry to retry.
    const refreshFailed = waitFor(client, 'error', (e) => e.during === 'refresh');
    clock.advanceTo(clock.nextDue()!);
    await refreshFailed;
    const expired = waitFor(client, 'connecting');
    const reconnecting = waitFor(client, 'reconnecting');
    clock.advanceTo(client.session!.expires!);
    expect(await expired).toEqual({ code: 3003, reason: 'token expired' });
    const back = waitFor(sub, 'subscribed');
    clock.advance((await reconnecting).delay);
    expect((await back).wasRecovering).toBe(true);
    expect(client.state).toBe('connected');
    expect(calls).toBe(3);
    expect(errors).toContain('refresh');
    expect(seen.map((e) => `${e.state}:${e.code}`)).toEqual(['connecting:0', 'connected:2', 'connecting:3003', 'connected:2']);
  });
});
