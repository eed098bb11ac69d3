import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { Credentials } from '../src/credentials.js';

function credentials(opts: { token?: string; getToken?: () => Promise<string> } = {}) {
  const clock = { now: 1_000_000 };
  const c = new Credentials({ token: opts.token, getToken: opts.getToken, now: () => clock.now });
  return { c, clock };
}

describe('Credentials', () => {
  it('fetches a token when it has none or the accepted one has expired, on the injected clock', () => {
    const { c, clock } = credentials({ getToken: async () => 't' });
    expect(c.needsFetch()).toBe(true);
    c.useFetched('t1');
    c.accepted(clock.now + 60_000);
    expect(c.needsFetch()).toBe(false);
    expect(c.refreshIn()).toBe(54_000);
    clock.now += 60_000;
    expect(c.needsFetch()).toBe(true);
  });

  it('never fetches nor refreshes a fixed token', () => {
    const { c, clock } = credentials({ token: 'fixed' });
    c.accepted(clock.now + 60_000);
    expect(c.needsFetch()).toBe(false);
    expect(c.refreshIn()).toBeUndefined();
    expect(c.afterRefusal(DisconnectCode.Expired.code)).toBe('stop');
  });

  it('refetches a refused token once when it had worked, and stops on a freshly fetched one', () => {
    const { c } = credentials({ getToken: async () => 't' });
    c.useFetched('t1');
    expect(c.afterRefusal(ErrorCode.Unauthorized.code)).toBe('stop');
    c.useFetched('t2');
    c.accepted(undefined);
    expect(c.afterRefusal(DisconnectCode.InvalidToken.code)).toBe('reconnect');
    expect(c.token).toBeUndefined();
    expect(c.afterRefusal(ErrorCode.TokenExpired.code)).toBe('reconnect');
    expect(c.afterRefusal(DisconnectCode.Shutdown.code)).toBeUndefined();
  });

  it('retries a failed refresh half-way to expiry, and not in the last 2 s', () => {
    const { c, clock } = credentials({ getToken: async () => 't' });
    c.accepted(clock.now + 10_000, 't1');
    expect(c.retryRefreshIn()).toBe(5_000);
    clock.now += 8_500;
    expect(c.retryRefreshIn()).toBeUndefined();
  });

  it('rejects an empty token and what getToken throws synchronously', async () => {
    await expect(credentials({ getToken: async () => '' }).c.fetch()).rejects.toThrow('getToken returned no token');
    const boom = () => {
      throw new Error('boom');
    };
    await expect(credentials({ getToken: boom }).c.fetch()).rejects.toThrow('boom');
  });
});
