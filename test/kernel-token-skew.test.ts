/**
 * One expiry rule at connect, at refresh and for the live connection: a token is valid
 * until `exp + auth.clockSkew` (default 30 s). The server runs on a clock the test moves,
 * and the test runs the timer wheel itself, so no test waits for time to pass.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SKEW = 30_000;

describe('token expiry with clock skew', () => {
  let s: TestServer;
  let clock = Math.floor(Date.now() / 1000) * 1000;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    s = await startTestServer({ now: () => clock });
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await s.close();
  });

  /** Move to a fresh whole second well past every earlier test's deadlines; returns it in seconds. */
  function freshSecond(): number {
    clock = (Math.floor(clock / 1000) + 3600) * 1000;
    s.server.node.wheel.advance();
    return clock / 1000;
  }

  /** Set the server's clock and run the deadlines that are due. */
  function at(ms: number): void {
    clock = ms;
    s.server.node.wheel.advance();
  }

  function sign(sub: string, claims: { exp: number; nbf?: number }): Promise<string> {
    return new SignJWT({ tenant: 'acme', caps: { 'project:*': ['subscribe', 'publish'] }, ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .sign(new TextEncoder().encode(s.server.secret as string));
  }

  async function open(): Promise<RawClient> {
    const c = await RawClient.open(s.url);
    clients.push(c);
    return c;
  }

  it('accepts a token expired clockSkew − 1 s ago, runs its commands, and closes with 3003 when exp + clockSkew passes', async () => {
    const t = freshSecond();
    const exp = t - 29;
    const c = await open();
    const reply = await c.call('connect', { token: await sign('late', { exp }) });
    // The reply tells the real exp, so a client refreshes as soon as it can.
    expect(reply.result?.['expires']).toBe(exp * 1000);
    expect((await c.call('subscribe', { channel: 'project:skew' })).error).toBeUndefined();
    expect((await c.call('publish', { channel: 'project:skew', data: 1 })).error).toBeUndefined();

    const deadline = exp * 1000 + SKEW;
    at(deadline - 1);
    expect((await c.call('ping')).error).toBeUndefined();
    expect(c.closeCode).toBeNull();
    at(deadline);
    expect(await c.waitClose()).toBe(3003);
  });

  it('refuses at connect with 109 and close 3003 a token expired clockSkew ago or more', async () => {
    const t = freshSecond();
    for (const exp of [t - 30, t - 31]) {
      const c = await open();
      const reply = await c.call('connect', { token: await sign('gone', { exp }) });
      expect(reply.error).toMatchObject({ code: 109, temporary: false });
      expect(await c.waitClose()).toBe(3003);
    }
  });

  it('accepts nbf up to clockSkew ahead and refuses it beyond with 101 and close 3500', async () => {
    const t = freshSecond();
    for (const nbf of [t + 29, t + 30]) {
      const c = await open();
      expect((await c.call('connect', { token: await sign('early', { exp: t + 600, nbf }) })).error).toBeUndefined();
    }
    const c = await open();
    const reply = await c.call('connect', { token: await sign('early', { exp: t + 600, nbf: t + 31 }) });
    expect(reply.error).toMatchObject({ code: 101, message: 'unauthorized: claim nbf invalid' });
    expect(await c.waitClose()).toBe(3500);
  });

  it('refresh follows the same rule: a token expired clockSkew − 1 s ago is taken and ends at exp + clockSkew', async () => {
    const t = freshSecond();
    const c = await open();
    expect((await c.call('connect', { token: await sign('renew', { exp: t + 600 }) })).error).toBeUndefined();
    const exp = t - 29;
    const r = await c.call('refresh', { token: await sign('renew', { exp }) });
    expect(r.result).toEqual({ expires: exp * 1000 });
    at(exp * 1000 + SKEW - 1);
    expect((await c.call('ping')).error).toBeUndefined();
    at(exp * 1000 + SKEW);
    expect(await c.waitClose()).toBe(3003);
  });

  it('refresh with a token expired clockSkew + 1 s ago gets 109 and the connection keeps its token', async () => {
    const t = freshSecond();
    const c = await open();
    expect((await c.call('connect', { token: await sign('keep', { exp: t + 600 }) })).error).toBeUndefined();
    const r = await c.call('refresh', { token: await sign('keep', { exp: t - 31 }) });
    expect(r.error).toMatchObject({ code: 109 });
    at((t + 600) * 1000 + SKEW - 1);
    expect((await c.call('ping')).error).toBeUndefined();
    at((t + 600) * 1000 + SKEW);
    expect(await c.waitClose()).toBe(3003);
  });
});
