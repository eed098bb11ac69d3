import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { parseConfig } from '../../src/features/builtin.js';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';

describe('mintToken', () => {
  it('sets iat and exp from the clock it is given, so a verifier on that clock accepts the token', async () => {
    const clock = Date.UTC(2040, 0, 1, 12, 0, 0, 750);
    const token = await mintToken(SECRET, { sub: 'alice', tenant: 'acme', ttlSeconds: 60 }, () => clock);
    const seconds = Math.floor(clock / 1000);
    expect(decodeJwt(token)).toMatchObject({ iat: seconds, exp: seconds + 60 });

    const auth = parseConfig({}).auth;
    const sameClock = await TokenVerifier.create(auth, SECRET, () => clock);
    expect(await sameClock.verify(token)).toMatchObject({ user: 'alice', expires: (seconds + 60) * 1000 });
    const laterClock = await TokenVerifier.create(auth, SECRET, () => (seconds + 60) * 1000 + auth.clockSkew);
    await expect(laterClock.verify(token)).rejects.toMatchObject({ failure: 'expired' });
  });
});
