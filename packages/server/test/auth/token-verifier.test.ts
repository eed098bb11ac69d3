import { type CryptoKey, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenError, TokenVerifier, validUntil } from '../../src/auth/token-verifier.js';
import type { Config } from '../../src/config/schema.js';
import { parseConfig } from '../../src/features/builtin.js';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const enc = (s: string) => new TextEncoder().encode(s);
const nowSec = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

type Claims = Record<string, unknown>;
const baseClaims = (over: Claims = {}): Claims => ({ sub: 'alice', tenant: 'acme', exp: nowSec() + 3_600, ...over });

/** Sign with HS256 (or another alg) unless claims say otherwise; undefined claims are left out. */
async function hmac(over: Claims = {}, key: Uint8Array = enc(SECRET), alg = 'HS256'): Promise<string> {
  const claims = Object.fromEntries(Object.entries(baseClaims(over)).filter(([, v]) => v !== undefined));
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

function authConfig(auth: Record<string, unknown> = {}): Config['auth'] {
  return parseConfig({ auth }).auth;
}

async function failure(verifier: TokenVerifier, token: unknown): Promise<TokenError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return err as TokenError;
  }
  throw new Error('expected the token to be refused');
}

describe('TokenVerifier with an HMAC secret', () => {
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = await TokenVerifier.create(authConfig(), SECRET);
  });

  it('accepts a valid HS256 token and returns its identity', async () => {
    const exp = nowSec() + 600;
    const id = await verifier.verify(await hmac({ exp }));
    expect(id).toEqual({ user: 'alice', tenant: 'acme', expires: exp * 1000, capabilities: [] });
  });

  it('accepts HS384 and HS512 with the same secret', async () => {
    expect((await verifier.verify(await hmac({}, enc(SECRET), 'HS384'))).user).toBe('alice');
    expect((await verifier.verify(await hmac({}, enc(SECRET), 'HS512'))).user).toBe('alice');
  });

  it('parses the caps claim and passes the info claim through', async () => {
    const id = await verifier.verify(await hmac({ caps: { 'project:*': ['subscribe', 'publish'] }, info: { name: 'Alice', avatar: 'ü' } }));
    expect(id.capabilities.map((c) => [c.pattern, [...c.actions]])).toEqual([['project:*', ['subscribe', 'publish']]]);
    expect(id.info).toEqual({ name: 'Alice', avatar: 'ü' });
  });

  it('reports an expired token as expired', async () => {
    const err = await failure(verifier, await hmac({ exp: nowSec() - 120, iat: nowSec() - 600 }));
    expect(err.failure).toBe('expired');
  });

  it('tolerates expiry within the configured clock skew (30 s)', async () => {
    const id = await verifier.verify(await hmac({ exp: nowSec() - 5 }));
    expect(id.user).toBe('alice');
  });

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(baseClaims())}.`;
    const err = await failure(verifier, token);
    expect(err.failure).toBe('invalid');
    expect(err.message).toBe('algorithm not allowed');
  });

  it('refuses a token signed with another secret', async () => {
    const err = await failure(verifier, await hmac({}, enc('another-secret-that-is-also-32-characters-long')));
    expect(err.failure).toBe('invalid');
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const [h, , s] = (await hmac()).split('.');
    const err = await failure(verifier, `${h}.${b64(baseClaims({ sub: 'admin' }))}.${s}`);
    expect(err.failure).toBe('invalid');
  });

  it.each([
    ['exp', { exp: undefined }],
    ['sub', { sub: undefined }],
  ])('refuses a token without %s', async (_claim, over) => {
    const err = await failure(verifier, await hmac(over));
    expect(err.failure).toBe('invalid');
  });

  it('refuses a lifetime over maxTokenLifetime, measured from iat', async () => {
    const now = nowSec();
    expect((await failure(verifier, await hmac({ iat: now, exp: now + 25 * 3_600 }))).message).toBe('token lifetime too long');
    expect((await failure(verifier, await hmac({ iat: now - 23 * 3_600, exp: now + 2 * 3_600 }))).message).toBe('token lifetime too long');
    expect((await verifier.verify(await hmac({ iat: now, exp: now + 23 * 3_600 }))).user).toBe('alice');
  });

  it('measures the lifetime from now when iat is missing or in the future', async () => {
    const now = nowSec();
    expect((await failure(verifier, await hmac({ exp: now + 25 * 3_600 }))).message).toBe('token lifetime too long');
    expect((await failure(verifier, await hmac({ iat: now + 3_600, exp: now + 24 * 3_600 + 120 }))).message).toBe('token lifetime too long');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['with a space', 'ac me'],
    ['with the key separator', 'ac|me'],
    ['with a dot', 'acme.io'],
    ['too long', 'a'.repeat(65)],
    ['not a string', 42],
  ])('refuses a tenant %s', async (_label, tenant) => {
    const err = await failure(verifier, await hmac({ tenant }));
    expect(err.failure).toBe('invalid');
  });

  it.each([
    ['empty', ''],
    ['with a colon', 'a:b'],
    ['with a space', 'a b'],
    ['with a control character', 'a\u0001b'],
    ['non-ASCII', 'ålice'],
    ['too long', 'a'.repeat(129)],
  ])('refuses a sub %s', async (_label, sub) => {
    const err = await failure(verifier, await hmac({ sub }));
    expect(err.failure).toBe('invalid');
  });

  it('accepts the longest tenant and sub', async () => {
    const id = await verifier.verify(await hmac({ tenant: 't'.repeat(64), sub: 'u'.repeat(128) }));
    expect([id.tenant.length, id.user.length]).toEqual([64, 128]);
  });

  it('refuses a malformed caps claim', async () => {
    const err = await failure(verifier, await hmac({ caps: { 'project:*': ['root'] } }));
    expect(err.message).toBe('caps claim invalid');
  });

  it('refuses a token over maxTokenBytes before looking inside', async () => {
    const err = await failure(verifier, await hmac({ info: 'x'.repeat(9_000) }));
    expect(err.message).toBe('token too large');
  });

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['a number', 123],
    ['not a JWT', 'abc'],
    ['garbage segments', 'a.b.c'],
  ])('refuses a token that is %s', async (_label, token) => {
    const err = await failure(verifier, token);
    expect(err.failure).toBe('invalid');
  });

  it('refuses an RS256 token when no public key is configured', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT(baseClaims()).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    expect((await failure(verifier, token)).failure).toBe('invalid');
  });
});

describe('TokenVerifier with audience and issuer configured', () => {
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = await TokenVerifier.create(authConfig({ audience: 'switchboard', issuer: 'https://app.example' }), SECRET);
  });

  it('accepts a token with the configured aud and iss', async () => {
    expect((await verifier.verify(await hmac({ aud: 'switchboard', iss: 'https://app.example' }))).user).toBe('alice');
  });

  it.each([
    ['a wrong aud', { aud: 'other', iss: 'https://app.example' }],
    ['no aud', { iss: 'https://app.example' }],
    ['a wrong iss', { aud: 'switchboard', iss: 'https://evil.example' }],
    ['no iss', { aud: 'switchboard' }],
  ])('refuses %s', async (_label, over) => {
    expect((await failure(verifier, await hmac(over))).failure).toBe('invalid');
  });
});

describe('TokenVerifier with public keys', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  let scoped: Awaited<ReturnType<typeof generateKeyPair>>;
  let rsaPem: string;
  let verifier: TokenVerifier;
  let withoutSecret: TokenVerifier;

  const rs256 = (claims: Claims, key: CryptoKey, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header }).sign(key);

  beforeAll(async () => {
    [rsa, other, scoped] = await Promise.all([
      generateKeyPair('RS256', { extractable: true }),
      generateKeyPair('RS256', { extractable: true }),
      generateKeyPair('ES256', { extractable: true }),
    ]);
    rsaPem = await exportSPKI(rsa.publicKey);
    const publicKeys = [
      { alg: 'RS256', pem: rsaPem, kid: 'main' },
      { alg: 'ES256', pem: await exportSPKI(scoped.publicKey), tenant: 'acme' },
    ];
    verifier = await TokenVerifier.create(authConfig({ publicKeys }), SECRET);
    withoutSecret = await TokenVerifier.create(authConfig({ publicKeys }), undefined);
  });

  it('accepts an RS256 token signed by the configured key', async () => {
    const id = await verifier.verify(await rs256(baseClaims({ sub: 'bob' }), rsa.privateKey));
    expect([id.user, id.tenant]).toEqual(['bob', 'acme']);
    expect((await verifier.verify(await rs256(baseClaims(), rsa.privateKey, { kid: 'main' }))).user).toBe('alice');
  });

  it('refuses an RS256 token signed by another key', async () => {
    expect((await failure(verifier, await rs256(baseClaims(), other.privateKey))).failure).toBe('invalid');
  });

  it('refuses a token naming an unknown kid', async () => {
    expect((await failure(verifier, await rs256(baseClaims(), rsa.privateKey, { kid: 'rotated' }))).failure).toBe('invalid');
  });

  it('reports an expired RS256 token as expired', async () => {
    const err = await failure(verifier, await rs256(baseClaims({ exp: nowSec() - 120 }), rsa.privateKey));
    expect(err.failure).toBe('expired');
  });

  it('refuses an HMAC token keyed with the public key text (algorithm confusion)', async () => {
    for (const v of [verifier, withoutSecret]) {
      for (const keyText of [rsaPem, rsaPem.trim()]) {
        const err = await failure(v, await hmac({}, enc(keyText)));
        expect(err.failure).toBe('invalid');
      }
    }
  });

  it('refuses every HMAC token when no secret is configured', async () => {
    const err = await failure(withoutSecret, await hmac());
    expect(err.message).toBe('algorithm not allowed');
  });

  it('pins each key to its algorithm: an RS256-signed token relabelled PS256 or RS512 is refused', async () => {
    const [, p, s] = (await rs256(baseClaims(), rsa.privateKey)).split('.');
    for (const alg of ['PS256', 'RS512', 'ES256']) {
      expect((await failure(verifier, `${b64({ alg })}.${p}.${s}`)).failure).toBe('invalid');
    }
  });

  it('a tenant-scoped key accepts its tenant and refuses another', async () => {
    const sign = (tenant: string) => new SignJWT(baseClaims({ tenant })).setProtectedHeader({ alg: 'ES256' }).sign(scoped.privateKey);
    expect((await verifier.verify(await sign('acme'))).tenant).toBe('acme');
    const err = await failure(verifier, await sign('globex'));
    expect(err.failure).toBe('invalid');
    expect(err.message).toBe('key not valid for this tenant');
  });
});

describe('TokenVerifier with an issuer-pinned public key', () => {
  it('uses the key only for tokens of its issuer', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const v = await TokenVerifier.create(
      authConfig({ publicKeys: [{ alg: 'RS256', pem: await exportSPKI(pair.publicKey), issuer: 'https://idp.example' }] }),
      undefined,
    );
    const sign = (iss?: string) => new SignJWT(baseClaims(iss ? { iss } : {})).setProtectedHeader({ alg: 'RS256' }).sign(pair.privateKey);
    expect((await v.verify(await sign('https://idp.example'))).user).toBe('alice');
    expect((await failure(v, await sign('https://other.example'))).failure).toBe('invalid');
    expect((await failure(v, await sign())).failure).toBe('invalid');
  });
});

describe('TokenVerifier expiry and clock skew, on an injected clock', () => {
  // A whole second, so token times (seconds) line up with the clock (ms).
  const T0 = 1_800_000_000_000;
  const t0 = T0 / 1000;
  let clock = T0;
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = await TokenVerifier.create(authConfig(), SECRET, () => clock);
  });
  const at = (ms: number) => {
    clock = ms;
  };

  it('accepts a token expired clockSkew − 1 s ago and reports its real exp', async () => {
    at(T0);
    const id = await verifier.verify(await hmac({ exp: t0 - 29 }));
    expect(id.expires).toBe((t0 - 29) * 1000);
    expect(validUntil(id, 30_000)).toBe(T0 + 1000);
  });

  it('refuses as expired a token expired exactly clockSkew ago, and clockSkew + 1 s ago', async () => {
    at(T0);
    expect((await failure(verifier, await hmac({ exp: t0 - 30 }))).failure).toBe('expired');
    expect((await failure(verifier, await hmac({ exp: t0 - 31 }))).failure).toBe('expired');
  });

  it('the same token is accepted until exp + clockSkew and refused from then on', async () => {
    const token = await hmac({ exp: t0 });
    at(T0 + 29_999);
    expect((await verifier.verify(token)).user).toBe('alice');
    at(T0 + 30_000);
    expect((await failure(verifier, token)).failure).toBe('expired');
  });

  it('applies a clock skew that is not whole seconds to the millisecond', async () => {
    const v = await TokenVerifier.create(authConfig({ clockSkew: '1500ms' }), SECRET, () => clock);
    const token = await hmac({ exp: t0 });
    at(T0 + 1499);
    expect((await v.verify(token)).user).toBe('alice');
    at(T0 + 1500);
    expect((await failure(v, token)).failure).toBe('expired');
  });

  it('accepts nbf up to clockSkew in the future and refuses it beyond as invalid', async () => {
    at(T0);
    expect((await verifier.verify(await hmac({ nbf: t0 + 29, exp: t0 + 600 }))).user).toBe('alice');
    expect((await verifier.verify(await hmac({ nbf: t0 + 30, exp: t0 + 600 }))).user).toBe('alice');
    const err = await failure(verifier, await hmac({ nbf: t0 + 31, exp: t0 + 600 }));
    expect(err.failure).toBe('invalid');
    expect(err.message).toBe('claim nbf invalid');
  });

  it('checks the lifetime against the injected clock', async () => {
    at(T0);
    expect((await verifier.verify(await hmac({ exp: t0 + 24 * 3600 }))).user).toBe('alice');
    expect((await failure(verifier, await hmac({ exp: t0 + 25 * 3600 }))).message).toBe('token lifetime too long');
  });
});
