import { createHmac } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { ALL_ACTIONS } from '../helpers/server.js';
import { expectClosed, hostileServer, replyError } from './harness.js';

/**
 * Forged and broken tokens. The server is configured like a production one: an audience,
 * an issuer for HMAC tokens, and an RSA public key pinned to RS256. Every refused token gets
 * the documented answer — connect error 101 then close 3500 (expired: 109 then 3003) — and
 * a few valid tokens in the matrix prove the refusals are not a server refusing everything.
 */

const AUD = 'switchboard-hostile';
const ISS = 'https://app.example';
const KID = 'app-1';

const rsa = await generateKeyPair('RS256', { extractable: true });
const otherRsa = await generateKeyPair('RS256', { extractable: true });
const ec = await generateKeyPair('ES256');
const rsaPem = await exportSPKI(rsa.publicKey);
const rsaAsPs256 = await importPKCS8(await exportPKCS8(rsa.privateKey), 'PS256');

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Claims of a token the server accepts, for user `tess` of tenant acme. */
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: 'tess',
  tenant: 'acme',
  aud: AUD,
  iss: ISS,
  iat: now(),
  exp: now() + 600,
  caps: { 'project:*': ALL_ACTIONS },
  ...over,
});
const without = (key: string) => {
  const c = claims();
  delete c[key];
  return c;
};

/** An HMAC-signed JWT built by hand, so headers and payloads can be anything. */
function hmacJwt(header: Record<string, unknown>, payload: unknown, secret: string | Buffer, hash = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

type Key = Parameters<SignJWT['sign']>[0];
async function signed(payload: Record<string, unknown>, alg: string, key: Key, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }).sign(key);
}

interface TokenCase {
  name: string;
  token: (secret: string) => Promise<string | unknown>;
  /** `ok`: connects. Otherwise the connect reply error and the close code (null: stays open). */
  expect: 'ok' | { code: number; close: number | null };
}

const INVALID = { code: ErrorCode.Unauthorized.code, close: 3500 };
const EXPIRED = { code: ErrorCode.TokenExpired.code, close: 3003 };
/** An HS256 token; the payload is built when the case runs (time claims stay fresh). */
const hs = (payload: () => Record<string, unknown>) => (secret: string) => Promise.resolve(hmacJwt({ alg: 'HS256', typ: 'JWT' }, payload(), secret));

/** Change one claim of a valid token's payload and keep its signature. */
const tampered = (change: Record<string, unknown>) => async (secret: string) => {
  const [h, , sig] = hmacJwt({ alg: 'HS256', typ: 'JWT' }, claims(), secret).split('.');
  return `${h}.${b64(claims(change))}.${sig}`;
};

const cases: TokenCase[] = [
  // Controls: the server does accept well-formed tokens.
  { name: 'valid HS256 (control)', token: hs(() => claims()), expect: 'ok' },
  { name: 'valid HS384 with the shared secret (control)', token: (s) => Promise.resolve(hmacJwt({ alg: 'HS384' }, claims(), s, 'sha384')), expect: 'ok' },
  { name: 'valid RS256 with the configured key id (control)', token: () => signed(claims(), 'RS256', rsa.privateKey, KID), expect: 'ok' },
  { name: 'valid RS256 without a key id (control)', token: () => signed(claims(), 'RS256', rsa.privateKey), expect: 'ok' },
  { name: 'aud as an array that contains the audience (control)', token: hs(() => claims({ aud: ['other', AUD] })), expect: 'ok' },
  { name: 'expired 10 s ago, within the 30 s clock skew (control)', token: hs(() => claims({ iat: now() - 600, exp: now() - 10 })), expect: 'ok' },
  { name: 'lifetime of 23 hours (control)', token: hs(() => claims({ exp: now() + 23 * 3600 })), expect: 'ok' },
  // Algorithms.
  { name: 'alg none with an empty signature', token: () => Promise.resolve(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`), expect: INVALID },
  {
    name: 'alg none with a valid HS256 signature attached',
    token: async (s) => `${b64({ alg: 'none' })}.${b64(claims())}.${hmacJwt({ alg: 'HS256' }, claims(), s).split('.')[2]}`,
    expect: INVALID,
  },
  { name: 'alg NONE in capitals', token: () => Promise.resolve(`${b64({ alg: 'NONE' })}.${b64(claims())}.`), expect: INVALID },
  { name: 'header without alg', token: (s) => Promise.resolve(hmacJwt({ typ: 'JWT' }, claims(), s)), expect: INVALID },
  { name: 'alg as a number', token: (s) => Promise.resolve(hmacJwt({ alg: 256 }, claims(), s)), expect: INVALID },
  { name: 'HS256 signed with a wrong secret', token: hs(() => claims()).bind(null, 'not-the-secret-not-the-secret-not-the-secret'), expect: INVALID },
  { name: 'HS256 signed with an empty secret', token: () => Promise.resolve(hmacJwt({ alg: 'HS256' }, claims(), '')), expect: INVALID },
  { name: 'RS256 signed with another RSA key', token: () => signed(claims(), 'RS256', otherRsa.privateKey, KID), expect: INVALID },
  { name: 'RS256 with an unknown key id', token: () => signed(claims(), 'RS256', rsa.privateKey, 'app-2'), expect: INVALID },
  {
    name: 'HMAC/RSA confusion: HS256 signed with the RSA public key PEM',
    token: () => Promise.resolve(hmacJwt({ alg: 'HS256' }, claims(), rsaPem)),
    expect: INVALID,
  },
  {
    name: 'HMAC/RSA confusion with the RSA key id in the header',
    token: () => Promise.resolve(hmacJwt({ alg: 'HS256', kid: KID }, claims(), rsaPem)),
    expect: INVALID,
  },
  {
    name: 'RS256 header on an HMAC signature',
    token: async (s) => {
      const [, p, sig] = hmacJwt({ alg: 'HS256' }, claims(), s).split('.');
      return `${b64({ alg: 'RS256', kid: KID })}.${p}.${sig}`;
    },
    expect: INVALID,
  },
  {
    name: 'HS256 header switched to HS512, signature kept',
    token: async (s) => {
      const [, p, sig] = hmacJwt({ alg: 'HS256' }, claims(), s).split('.');
      return `${b64({ alg: 'HS512' })}.${p}.${sig}`;
    },
    expect: INVALID,
  },
  { name: 'PS256 signed with the configured RSA key (key pinned to RS256)', token: () => signed(claims(), 'PS256', rsaAsPs256, KID), expect: INVALID },
  { name: 'ES256 with no EC key configured', token: () => signed(claims(), 'ES256', ec.privateKey), expect: INVALID },
  {
    name: 'unknown critical header extension',
    token: (s) => Promise.resolve(hmacJwt({ alg: 'HS256', crit: ['x-ext'], 'x-ext': 1 }, claims(), s)),
    expect: INVALID,
  },
  // Time claims.
  { name: 'expired an hour ago', token: hs(() => claims({ iat: now() - 7200, exp: now() - 3600 })), expect: EXPIRED },
  { name: 'no exp', token: hs(() => without('exp')), expect: INVALID },
  { name: 'exp as a string', token: hs(() => claims({ exp: String(now() + 600) })), expect: INVALID },
  { name: 'nbf an hour in the future', token: hs(() => claims({ nbf: now() + 3600 })), expect: INVALID },
  { name: 'lifetime of 25 hours', token: hs(() => claims({ exp: now() + 25 * 3600 })), expect: INVALID },
  { name: 'lifetime of 100 years', token: hs(() => claims({ exp: now() + 100 * 365 * 86400 })), expect: INVALID },
  { name: 'iat two days ago with exp in an hour (lifetime 49 h)', token: hs(() => claims({ iat: now() - 2 * 86400, exp: now() + 3600 })), expect: INVALID },
  {
    name: 'iat in the future does not shorten the lifetime (exp in 25 h)',
    token: hs(() => claims({ iat: now() + 24 * 3600, exp: now() + 25 * 3600 })),
    expect: INVALID,
  },
  // Audience and issuer.
  { name: 'wrong aud', token: hs(() => claims({ aud: 'someone-else' })), expect: INVALID },
  { name: 'no aud', token: hs(() => without('aud')), expect: INVALID },
  { name: 'wrong iss', token: hs(() => claims({ iss: 'https://evil.example' })), expect: INVALID },
  { name: 'no iss', token: hs(() => without('iss')), expect: INVALID },
  // Tampering and format.
  { name: 'tenant changed to other, signature kept', token: tampered({ tenant: 'other' }), expect: INVALID },
  { name: 'sub changed, signature kept', token: tampered({ sub: 'admin' }), expect: INVALID },
  { name: 'caps widened to *, signature kept', token: tampered({ caps: { '*': ALL_ACTIONS } }), expect: INVALID },
  { name: 'truncated by ten characters', token: async (s) => hmacJwt({ alg: 'HS256' }, claims(), s).slice(0, -10), expect: INVALID },
  { name: 'signature removed', token: async (s) => `${hmacJwt({ alg: 'HS256' }, claims(), s).split('.').slice(0, 2).join('.')}.`, expect: INVALID },
  { name: 'two segments only', token: async (s) => hmacJwt({ alg: 'HS256' }, claims(), s).split('.').slice(0, 2).join('.'), expect: INVALID },
  { name: 'five segments (JWE shape)', token: () => Promise.resolve('eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn'), expect: INVALID },
  {
    name: 'header that is not base64url JSON',
    token: async (s) => `%%%.${hmacJwt({ alg: 'HS256' }, claims(), s).split('.').slice(1).join('.')}`,
    expect: INVALID,
  },
  { name: 'header that is a JSON array', token: (s) => Promise.resolve(hmacJwt(['HS256'] as never, claims(), s)), expect: INVALID },
  { name: 'payload that is a JSON array', token: (s) => Promise.resolve(hmacJwt({ alg: 'HS256' }, [claims()], s)), expect: INVALID },
  { name: 'larger than maxTokenBytes (8 KiB)', token: hs(() => claims({ info: 'x'.repeat(9000) })), expect: INVALID },
  { name: 'empty string', token: () => Promise.resolve(''), expect: INVALID },
  { name: 'no token at all', token: () => Promise.resolve(undefined), expect: INVALID },
  {
    name: 'token as a number (a params error, the connection stays open)',
    token: () => Promise.resolve(12345),
    expect: { code: ErrorCode.BadRequest.code, close: null },
  },
  // Identity claims.
  { name: 'sub with a space', token: hs(() => claims({ sub: 'te ss' })), expect: INVALID },
  { name: 'sub empty', token: hs(() => claims({ sub: '' })), expect: INVALID },
  { name: "sub with the key separator '|'", token: hs(() => claims({ sub: 'te|ss' })), expect: INVALID },
  { name: 'sub of 129 characters', token: hs(() => claims({ sub: 's'.repeat(129) })), expect: INVALID },
  { name: 'sub as a number', token: hs(() => claims({ sub: 42 })), expect: INVALID },
  { name: 'no tenant', token: hs(() => without('tenant')), expect: INVALID },
  { name: "tenant with the key separator '|'", token: hs(() => claims({ tenant: 'ac|me' })), expect: INVALID },
  { name: 'tenant of 65 characters', token: hs(() => claims({ tenant: 't'.repeat(65) })), expect: INVALID },
  { name: 'tenant as an object', token: hs(() => claims({ tenant: { id: 'acme' } })), expect: INVALID },
  // Capabilities.
  { name: 'caps as an array', token: hs(() => claims({ caps: ['project:*'] })), expect: INVALID },
  { name: 'caps null', token: hs(() => claims({ caps: null })), expect: INVALID },
  { name: 'caps with a string instead of actions', token: hs(() => claims({ caps: { 'project:*': 'subscribe' } })), expect: INVALID },
  { name: 'caps with an unknown action', token: hs(() => claims({ caps: { 'project:*': ['subscribe', 'admin'] } })), expect: INVALID },
  { name: 'caps with an empty pattern', token: hs(() => claims({ caps: { '': ['subscribe'] } })), expect: INVALID },
  {
    name: 'caps with 257 patterns',
    token: hs(() => claims({ caps: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`project:${i}`, ['subscribe']])) })),
    expect: INVALID,
  },
];

describe('hostile tokens', () => {
  // The server's clock moves only when a test moves it (the cases' time claims keep minutes of margin).
  const clock = new ManualClock();
  const ctx = hostileServer({ auth: { audience: AUD, issuer: ISS, publicKeys: [{ alg: 'RS256', pem: rsaPem, kid: KID }] }, now: clock.now });
  clock.onMove(() => ctx().s.server.node.wheel.advance());
  const secret = () => ctx().s.server.secret as string;

  it.each(cases)('$name', async (tc) => {
    const c = await ctx().open({ label: 'acme' });
    const token = await tc.token(secret());
    const reply = await c.call('connect', token === undefined ? {} : { token });
    if (tc.expect === 'ok') {
      expect(reply['error']).toBeUndefined();
      expect(reply['result']).toMatchObject({ user: 'tess', tenant: 'acme' });
      return;
    }
    expect(replyError(reply).code).toBe(tc.expect.code);
    if (tc.expect.close === null) {
      expect((await c.call('ping'))['error']).toMatchObject({ code: ErrorCode.Unauthorized.code });
      expect(c.close).toBeNull();
      return;
    }
    await expectClosed(c, tc.expect.close);
  });

  it('a refused connect runs none of the commands sent after it', async () => {
    const c = await ctx().open({ label: 'acme' });
    const forged = `${b64({ alg: 'none' })}.${b64(claims({ caps: { '*': ALL_ACTIONS } }))}.`;
    c.text(
      [
        JSON.stringify({ id: 1, method: 'connect', params: { token: forged } }),
        JSON.stringify({ id: 2, method: 'publish', params: { channel: 'project:forged', data: 1 } }),
      ].join('\n'),
    );
    await expectClosed(c, 3500);
    expect(c.json.map((f) => f['id'])).toEqual([1]);
    const probe = await ctx().connect('tess');
    expect((await probe.call('history', { channel: 'project:forged' }))['result']).toMatchObject({ offset: 0 });
  });

  describe('refresh', () => {
    it('to a token of another user: 101, then close 3500', async () => {
      const c = await ctx().connect('tess');
      expect(replyError(await c.call('refresh', { token: await ctx().token('mallory') })).code).toBe(ErrorCode.Unauthorized.code);
      await expectClosed(c, 3500);
    });

    it('to a token of the same user in another tenant: 101, then close 3500', async () => {
      const c = await ctx().connect('tess');
      expect(replyError(await c.call('refresh', { token: await ctx().token('tess', { tenant: 'other' }) })).code).toBe(ErrorCode.Unauthorized.code);
      await expectClosed(c, 3500);
    });

    it('with a forged token: 101, and the connection keeps its verified identity', async () => {
      const c = await ctx().connect('tess', { caps: { 'project:*': ['subscribe'] } });
      const forged = `${b64({ alg: 'none' })}.${b64(claims({ caps: { '*': ALL_ACTIONS } }))}.`;
      expect(replyError(await c.call('refresh', { token: forged })).code).toBe(ErrorCode.Unauthorized.code);
      expect(replyError(await c.call('publish', { channel: 'project:1', data: 1 })).code).toBe(ErrorCode.PermissionDenied.code);
      expect(c.close).toBeNull();
    });

    it('with an expired token: 109, and the connection stays open', async () => {
      const c = await ctx().connect('tess');
      expect(replyError(await c.call('refresh', { token: hmacJwt({ alg: 'HS256' }, claims({ iat: now() - 7200, exp: now() - 3600 }), secret()) })).code).toBe(
        ErrorCode.TokenExpired.code,
      );
      expect((await c.call('ping'))['result']).toEqual({});
    });

    it('to narrower capabilities: subscriptions no longer allowed are removed with an unsubscribe push (3504)', async () => {
      const c = await ctx().connect('tess');
      await c.call('subscribe', { channel: 'project:1' });
      await c.call('subscribe', { channel: 'chat:1' });
      const narrower = await ctx().token('tess', { caps: { 'chat:*': ['subscribe'] } });
      expect((await c.call('refresh', { token: narrower }))['result']).toBeDefined();
      const push = await c.waitJson((f) => f['push'] === 'unsubscribe');
      expect(push).toMatchObject({ channel: 'project:1', code: 3504 });
      expect(replyError(await c.call('subscribe', { channel: 'project:1' })).code).toBe(ErrorCode.PermissionDenied.code);
    });
  });

  it('a connection whose token expires without refresh is closed with 3003 once exp + clockSkew passes', async () => {
    // Expired 28 s ago: inside the 30 s skew, so accepted, and closed when the clock reaches exp + 30 s.
    const c = await ctx().connect('tess', { ttlSeconds: -28 });
    const exp = Math.floor(clock.now() / 1000) - 28;
    clock.advanceTo(exp * 1000 + ctx().s.server.config.auth.clockSkew);
    await expectClosed(c, 3003);
  });
});
