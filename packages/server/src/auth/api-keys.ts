import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** An API key as stored: only its SHA-256 hash, and the tenant it is scoped to (null: admin). */
export interface StoredApiKey {
  id: string;
  hash: string;
  tenant: string | null;
  /** A read-only key may call only GET routes; anything else is refused (403, code 158). Absent: false. */
  readOnly?: boolean;
}

export interface ApiKeyGrant {
  id: string;
  /** null for an admin key, which names the tenant per request. */
  tenant: string | null;
  /** Whether the key may only read (GET routes). */
  readOnly: boolean;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new random key `sb_<id>_<secret>` and its stored form. */
export function generateApiKey(tenant: string | null, readOnly = false): { key: string; stored: StoredApiKey } {
  const id = randomBytes(6).toString('hex');
  const key = `sb_${id}_${randomBytes(24).toString('base64url')}`;
  return { key, stored: { id, hash: hashApiKey(key), tenant, ...(readOnly ? { readOnly: true } : {}) } };
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
/** How long a matching key is trusted without asking the source again (ms). */
const SOURCE_CHECK_MS = 100;
/** How often a key that matches nothing may make the store ask the source again (ms). */
const MISS_CHECK_MS = 5;

export class ApiKeyStore {
  readonly #fixed: StoredApiKey[];
  readonly #source: ApiKeySource | null;
  #stored: StoredApiKey[] = [];
  #version: string | null = null;
  /** When the source was last asked for its version (ms, monotonic). */
  #checkedAt = Number.NEGATIVE_INFINITY;
  #onChange: ((change: { created: StoredApiKey[]; revoked: StoredApiKey[] }) => void) | null = null;

  constructor(
    keys: readonly StoredApiKey[],
    source: ApiKeySource | null = null,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.#fixed = [...keys];
    this.#source = source;
    this.#refresh();
  }

  add(key: StoredApiKey): void {
    this.#fixed.push(key);
  }

  /** Hear keys created or revoked in the source while the server runs (not the first read). */
  onChange(fn: (change: { created: StoredApiKey[]; revoked: StoredApiKey[] }) => void): void {
    this.#onChange = fn;
  }

  #refresh(): void {
    const source = this.#source;
    if (!source) return;
    this.#checkedAt = performance.now();
    try {
      const version = source.version();
      if (version === this.#version) return;
      const before = this.#stored;
      this.#stored = source.read();
      const first = this.#version === null;
      this.#version = version;
      if (!first && this.#onChange) {
        const ids = (keys: StoredApiKey[]) => new Set(keys.map((k) => k.id));
        const had = ids(before);
        const has = ids(this.#stored);
        const created = this.#stored.filter((k) => !had.has(k.id));
        const revoked = before.filter((k) => !has.has(k.id));
        if (created.length > 0 || revoked.length > 0) this.#onChange({ created, revoked });
      }
    } catch (err) {
      // A file caught mid-write or broken by hand: keep the keys read last, try again next time.
      this.onError(err);
    }
  }

  /**
   * The grant of a presented key, or null. The source is checked at most every
   * SOURCE_CHECK_MS for a key that matches (a revoked key is refused from the first request
   * after that; the CLI that revokes it takes longer than that to run), and again for a key
   * that does not match, unless checked in the last MISS_CHECK_MS (a key just created works
   * from its first request, and a flood of wrong keys costs at most 200 checks a second).
   * A stat per request would block the event loop on every API call.
   */
  verify(presented: string | undefined): ApiKeyGrant | null {
    if (!presented || presented.length > 512) return null;
    const digest = Buffer.from(hashApiKey(presented), 'hex');
    const checkedRecently = performance.now() - this.#checkedAt < SOURCE_CHECK_MS;
    if (!checkedRecently) this.#refresh();
    const found = this.#match(digest);
    if (found || !checkedRecently || !this.#source || performance.now() - this.#checkedAt < MISS_CHECK_MS) return found;
    this.#refresh();
    return this.#match(digest);
  }

  #match(digest: Buffer): ApiKeyGrant | null {
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
    return found ? { id: found.id, tenant: found.tenant, readOnly: found.readOnly === true } : null;
  }
}
