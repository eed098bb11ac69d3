import { TENANT_RE } from '@switchboard/protocol';
import { createStoredApiKey } from '../auth/key-files.js';
import { loadConfig } from '../features/builtin.js';
import { createError } from '../core/sb-error.js';
import { type ParsedArgs, flag } from './args.js';

export const APIKEY_HELP = `Usage: switchboard apikey create (--tenant <tenant> | --admin) [--data ./data]

Creates an API key for the HTTP API, stores only its SHA-256 hash in <data>/api-keys.json
and prints the key once. A tenant key acts only within its tenant; an admin key names the
tenant in each request (X-Switchboard-Tenant header).
`;

export async function apikey(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  if (args.positionals[0] !== 'create') throw createError('SB_ERR_CLI_ARGS', 'usage: switchboard apikey create --tenant <tenant> | --admin');
  const tenant = flag(args, '--tenant');
  const admin = flag(args, '--admin') === 'true';
  if (!admin && (!tenant || !TENANT_RE.test(tenant))) throw createError('SB_ERR_CLI_ARGS', '--tenant <tenant> (letters, digits, _ and -) or --admin is required');
  const flags = new Map<string, string>();
  for (const name of ['--data', '--data-dir']) {
    const v = flag(args, name);
    if (v !== undefined) flags.set(name, v);
  }
  const config = loadConfig({ flags });
  const { key, id } = createStoredApiKey(config.dataDir, admin ? null : (tenant as string));
  out(`API key ${id} (${admin ? 'admin' : `tenant ${tenant}`}), shown once:`);
  out(key);
}
