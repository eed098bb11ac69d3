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

/** Keys kept where tools change them while the server runs (the data directory's key file). */
export interface ApiKeySource {
  /** Changes whenever the keys may have changed (cheap: a file's identity, size and mtime). */
  version(): string;
  read(): StoredApiKey[];
}

/**
 * Checks presented API keys against stored hashes in constant time: the configured keys,
 * and those of a source that is read again whenever it changes, so a key created or revoked
 * with `switchboard apikey` counts from the next request, without a restart.
 */
export class ApiKeyStore {
  readonly #fixed: StoredApiKey[];
  readonly #source: ApiKeySource | null;
  #stored: StoredApiKey[] = [];
  #version: string | null = null;

  constructor(keys: readonly StoredApiKey[], source: ApiKeySource | null = null, private readonly onError: (err: unknown) => void = () => {}) {
    this.#fixed = [...keys];
    this.#source = source;
    this.#refresh();
  }

  add(key: StoredApiKey): void {
    this.#fixed.push(key);
  }

  #refresh(): void {
    const source = this.#source;
    if (!source) return;
    try {
      const version = source.version();
      if (version === this.#version) return;
      this.#stored = source.read();
      this.#version = version;
    } catch (err) {
      // A file caught mid-write or broken by hand: keep the keys read last, try again next time.
      this.onError(err);
    }
  }

  verify(presented: string | undefined): ApiKeyGrant | null {
    if (!presented || presented.length > 512) return null;
    this.#refresh();
    const digest = Buffer.from(hashApiKey(presented), 'hex');
    let found: StoredApiKey | null = null;
    // Compare against every key so timing does not reveal which key, or whether one, matched.
    for (const k of this.#fixed) {
      const stored = Buffer.from(k.hash, 'hex');
      if (stored.length === digest.length && timingSafeEqual(stored, digest)) found = k;
    }
    for (const k of this.#stored) {
      const stored = Buffer.from(k.hash, 'hex');
      if (stored.length === digest.length && timingSafeEqual(stored, digest)) found = k;
    }
    return found ? { id: found.id, tenant: found.tenant } : null;
  }
}
