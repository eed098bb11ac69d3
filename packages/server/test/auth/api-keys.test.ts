import { describe, expect, it } from 'vitest';
import { ApiKeyStore, generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';

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
    expect(store.verify(tenantKey.key)).toEqual({ id: tenantKey.stored.id, tenant: 'acme' });
    expect(store.verify(otherKey.key)).toEqual({ id: otherKey.stored.id, tenant: 'globex' });
    expect(store.verify(adminKey.key)).toEqual({ id: adminKey.stored.id, tenant: null });
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
    expect(new ApiKeyStore([{ id: 'max', hash: hashApiKey(max), tenant: null }]).verify(max)).toEqual({ id: 'max', tenant: null });
  });

  it('accepts keys added later', () => {
    const s = new ApiKeyStore([]);
    const k = generateApiKey('acme');
    expect(s.verify(k.key)).toBeNull();
    s.add(k.stored);
    expect(s.verify(k.key)).toEqual({ id: k.stored.id, tenant: 'acme' });
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
    expect(s.verify(k.key)).toEqual({ id: k.stored.id, tenant: 'acme' });
    expect(s.verify('anything')).toBeNull();
  });
});
