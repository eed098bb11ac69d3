import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ApiKeySource, ApiKeyStore, generateApiKey, hashApiKey, type StoredApiKey } from '../../src/auth/api-keys.js';

describe('hashApiKey', () => {
  it('is the hex SHA-256 of the key', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('generateApiKey', () => {
  it('returns a key sb_<id>_<secret> and stores only its hash, id and tenant', () => {
    const { key, stored } = generateApiKey('acme');
    expect(key).toMatch(/^sb_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
    expect(stored).toEqual({ id: key.slice(3, 15), hash: hashApiKey(key), tenant: 'acme' });
    expect(JSON.stringify(stored)).not.toContain(key.slice(16));
  });

  it('makes admin keys with tenant null and never repeats a key', () => {
    const a = generateApiKey(null);
    const b = generateApiKey(null);
    expect(a.stored.tenant).toBeNull();
    expect(a.key).not.toBe(b.key);
    expect(a.stored.id).not.toBe(b.stored.id);
  });
});

describe('ApiKeyStore', () => {
  const tenantKey = generateApiKey('acme');
  const otherKey = generateApiKey('globex');
  const adminKey = generateApiKey(null);
  const store = new ApiKeyStore([tenantKey.stored, otherKey.stored, adminKey.stored]);

  it('grants each key its own id and tenant scope', () => {
    expect(store.verify(tenantKey.key)).toEqual({ id: tenantKey.stored.id, tenant: 'acme', readOnly: false });
    expect(store.verify(otherKey.key)).toEqual({ id: otherKey.stored.id, tenant: 'globex', readOnly: false });
    expect(store.verify(adminKey.key)).toEqual({ id: adminKey.stored.id, tenant: null, readOnly: false });
  });

  it('refuses a wrong, altered, truncated or empty key', () => {
    expect(store.verify(generateApiKey('acme').key)).toBeNull();
    expect(store.verify(`${tenantKey.key}x`)).toBeNull();
    expect(store.verify(tenantKey.key.slice(0, -1))).toBeNull();
    expect(store.verify(tenantKey.key.toUpperCase())).toBeNull();
    expect(store.verify('')).toBeNull();
    expect(store.verify(undefined)).toBeNull();
  });

  it('refuses the stored hash presented as the key', () => {
    expect(store.verify(tenantKey.stored.hash)).toBeNull();
  });

  it('refuses keys longer than 512 characters without hashing them', () => {
    const long = 'k'.repeat(513);
    const s = new ApiKeyStore([{ id: 'long', hash: hashApiKey(long), tenant: null }]);
    expect(s.verify(long)).toBeNull();
    const max = 'k'.repeat(512);
    expect(new ApiKeyStore([{ id: 'max', hash: hashApiKey(max), tenant: null }]).verify(max)).toEqual({ id: 'max', tenant: null, readOnly: false });
  });

  it('accepts keys added later', () => {
    const s = new ApiKeyStore([]);
    const k = generateApiKey('acme');
    expect(s.verify(k.key)).toBeNull();
    s.add(k.stored);
    expect(s.verify(k.key)).toEqual({ id: k.stored.id, tenant: 'acme', readOnly: false });
  });

  it('does not copy later changes of the array it was built from', () => {
    const keys = [tenantKey.stored];
    const s = new ApiKeyStore(keys);
    keys.push(adminKey.stored);
    expect(s.verify(adminKey.key)).toBeNull();
  });

  it('skips malformed stored hashes instead of failing', () => {
    const k = generateApiKey('acme');
    const s = new ApiKeyStore([{ id: 'bad', hash: 'not-hex', tenant: null }, { id: 'short', hash: 'abcd', tenant: null }, k.stored]);
    expect(s.verify(k.key)).toEqual({ id: k.stored.id, tenant: 'acme', readOnly: false });
    expect(s.verify('anything')).toBeNull();
  });
});

describe('ApiKeyStore over a changing source', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A source like the data directory's key file, counting how often it is asked. */
  function source(initial: StoredApiKey[]) {
    let keys = initial;
    let version = 0;
    const s = {
      checks: 0,
      set(next: StoredApiKey[]) {
        keys = next;
        version++;
      },
      source: {
        version: () => {
          s.checks++;
          return String(version);
        },
        read: () => keys,
      } satisfies ApiKeySource,
    };
    return s;
  }

  it('does not ask the source on every request: 1,000 requests within 100 ms ask it once', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const k = generateApiKey('acme');
    const src = source([k.stored]);
    const store = new ApiKeyStore([], src.source);
    const before = src.checks;
    for (let i = 0; i < 1000; i++) expect(store.verify(k.key)).toEqual({ id: k.stored.id, tenant: 'acme', readOnly: false });
    expect(src.checks - before).toBeLessThanOrEqual(1);
  });

  it('a revoked key is refused from the first request 100 ms after the last check', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const k = generateApiKey('acme');
    const src = source([k.stored]);
    const store = new ApiKeyStore([], src.source);
    expect(store.verify(k.key)).not.toBeNull();
    src.set([]);
    vi.advanceTimersByTime(100);
    expect(store.verify(k.key)).toBeNull();
  });

  it('a key created a moment ago works from its first request', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const old = generateApiKey('acme');
    const created = generateApiKey('globex');
    const src = source([old.stored]);
    const store = new ApiKeyStore([], src.source);
    expect(store.verify(old.key)).not.toBeNull();
    src.set([old.stored, created.stored]);
    vi.advanceTimersByTime(6);
    expect(store.verify(created.key)).toEqual({ id: created.stored.id, tenant: 'globex', readOnly: false });
  });

  it('a flood of wrong keys asks the source at most once per 5 ms', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const src = source([generateApiKey('acme').stored]);
    const store = new ApiKeyStore([], src.source);
    const before = src.checks;
    for (let i = 0; i < 1000; i++) expect(store.verify(`sb_wrong_${i}`)).toBeNull();
    expect(src.checks - before).toBeLessThanOrEqual(1);
  });
});
