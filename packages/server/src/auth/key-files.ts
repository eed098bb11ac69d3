import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { createError } from '../errors/sb-error.js';
import { type ApiKeySource, ApiKeyStore, generateApiKey, type StoredApiKey } from './api-keys.js';

export interface KeyMaterial {
  /** HMAC secret for tokens, when one is configured or generated. */
  secret?: string;
  apiKeys: StoredApiKey[];
  /** The development admin API key in clear text (development mode only), to print at start. */
  devAdminKey?: string;
}

const SECRET_FILE = 'secret';
const API_KEYS_FILE = 'api-keys.json';
const DEV_ADMIN_KEY_FILE = 'admin-api-key';

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function readStoredApiKeys(dataDir: string): StoredApiKey[] {
  const path = join(dataDir, API_KEYS_FILE);
  if (!existsSync(path)) return [];
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(parsed)) throw createError('SB_ERR_CONFIG_FILE', `${path}: expected an array`);
  return parsed as StoredApiKey[];
}

/** The data directory's key file as a source that tells when it changed. */
export function storedApiKeySource(dataDir: string): ApiKeySource {
  const path = join(dataDir, API_KEYS_FILE);
  return {
    version() {
      const st = statSync(path, { bigint: true, throwIfNoEntry: false });
      return st ? `${st.ino}:${st.size}:${st.mtimeNs}` : 'none';
    },
    read: () => readStoredApiKeys(dataDir),
  };
}

/** Remove a stored API key by id; false when there is none with that id. */
export function revokeStoredApiKey(dataDir: string, id: string): boolean {
  const keys = readStoredApiKeys(dataDir);
  const kept = keys.filter((k) => k.id !== id);
  if (kept.length === keys.length) return false;
  writeKeyFile(dataDir, kept);
  return true;
}

/** Replace the key file in one step (write aside, rename), so a server never reads half of it. */
function writeKeyFile(dataDir: string, keys: StoredApiKey[]): void {
  const path = join(dataDir, API_KEYS_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  writePrivate(temporary, `${JSON.stringify(keys, null, 2)}\n`);
  renameSync(temporary, path);
}

/** Create an API key (read-only: it may only read) and store its hash in the data directory; returns the key in clear text once. */
export function createStoredApiKey(dataDir: string, tenant: string | null, readOnly = false): { key: string; id: string } {
  mkdirSync(dataDir, { recursive: true });
  const keys = readStoredApiKeys(dataDir);
  const { key, stored } = generateApiKey(tenant, readOnly);
  keys.push(stored);
  writeKeyFile(dataDir, keys);
  return { key, id: stored.id };
}

/** Where the token secret came from, for tools that must say which one they used. */
export function secretSource(config: Config): string {
  if (config.auth.secret) return 'the configured auth.secret';
  return `the development secret in ${resolve(config.dataDir, SECRET_FILE)}`;
}

/**
 * Token secret and API keys: from the configuration, else from the data directory. In
 * development mode a missing secret and admin key are generated there (files mode 0600),
 * unless `create` is false (tools that only sign with an existing secret).
 */
export function loadKeyMaterial(config: Config, create = true): KeyMaterial {
  const dir = config.dataDir;
  let secret = config.auth.secret;
  let devAdminKey: string | undefined;
  if (!secret && config.development && !create && !existsSync(join(dir, SECRET_FILE))) {
    throw createError('SB_ERR_NO_TOKEN_KEY', `no secret in ${resolve(dir, SECRET_FILE)}: pass --data with the server's data directory, or --secret`);
  }
  if (config.development) mkdirSync(dir, { recursive: true });
  if (!secret && config.development) {
    const path = join(dir, SECRET_FILE);
    if (!existsSync(path)) writePrivate(path, randomBytes(48).toString('base64url'));
    secret = readFileSync(path, 'utf8').trim();
  }
  if (!secret && config.auth.publicKeys.length === 0 && config.auth.jwks.length === 0) {
    throw createError('SB_ERR_NO_TOKEN_KEY', 'set auth.secret (--auth.secret / SWITCHBOARD_SECRET), auth.publicKeys or auth.jwks, or run in development mode');
  }
  let apiKeys = readStoredApiKeys(dir);
  if (config.development) {
    const path = join(dir, DEV_ADMIN_KEY_FILE);
    if (!existsSync(path)) {
      const { key } = createStoredApiKey(dir, null);
      writePrivate(path, key);
      apiKeys = readStoredApiKeys(dir);
    }
    devAdminKey = readFileSync(path, 'utf8').trim();
  }
  return { ...(secret ? { secret } : {}), apiKeys: [...config.apiKeys, ...apiKeys], ...(devAdminKey ? { devAdminKey } : {}) };
}

/** The API keys a server checks: the configured ones, and the data directory's, read again when they change. */
export function apiKeyStore(config: Config, onError?: (err: unknown) => void): ApiKeyStore {
  return new ApiKeyStore(config.apiKeys, storedApiKeySource(config.dataDir), onError);
}
