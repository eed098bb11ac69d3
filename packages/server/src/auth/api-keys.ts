import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** An API key as stored: only its SHA-256 hash, and the tenant it is scoped to (null: admin). */
export interface StoredApiKey {
  id: string;
  hash: string;
  tenant: string | null;
}

export interface ApiKeyGrant {
  id: string;
  /** null for an admin key, which names the tenant per request. */
  tenant: string | null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new random key `sb_<id>_<secret>` and its stored form. */
export function generateApiKey(tenant: string | null): { key: string; stored: StoredApiKey } {
  const id = randomBytes(6).toString('hex');
  const key = `sb_${id}_${randomBytes(24).toString('base64url')}`;
  return { key, stored: { id, hash: hashApiKey(key), tenant } };
}

/** Checks presented API keys against stored hashes in constant time. */
export class ApiKeyStore {
  readonly #keys: StoredApiKey[];

  constructor(keys: readonly StoredApiKey[]) {
    this.#keys = [...keys];
  }

  add(key: StoredApiKey): void {
    this.#keys.push(key);
  }

  verify(presented: string | undefined): ApiKeyGrant | null {
    if (!presented || presented.length > 512) return null;
    const digest = Buffer.from(hashApiKey(presented), 'hex');
    let found: StoredApiKey | null = null;
    // Compare against every key so timing does not reveal which key, or whether one, matched.
    for (const k of this.#keys) {
      const stored = Buffer.from(k.hash, 'hex');
      if (stored.length === digest.length && timingSafeEqual(stored, digest)) found = k;
    }
    return found ? { id: found.id, tenant: found.tenant } : null;
  }
}
