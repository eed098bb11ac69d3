import { TENANT_RE } from '@switchboard/protocol';
import { createStoredApiKey, readStoredApiKeys, revokeStoredApiKey } from '../auth/key-files.js';
import { createError } from '../errors/sb-error.js';
import { loadConfig } from '../features/builtin.js';
import { flag, type ParsedArgs } from './args.js';

export const APIKEY_HELP = `Usage: switchboard apikey create (--tenant <tenant> | --admin) [--data ./data]
       switchboard apikey list [--data ./data]
       switchboard apikey revoke <id> [--data ./data]

create stores only the new key's SHA-256 hash in <data>/api-keys.json and prints the key
once. A tenant key acts only within its tenant; an admin key names the tenant in each
request (X-Switchboard-Tenant header). list prints each stored key's id and scope (never the
key). A server using that data directory takes a created or revoked key into account from
its next request, without a restart.
`;

const USAGE = 'usage: switchboard apikey create --tenant <tenant> | --admin; apikey list; apikey revoke <id>';

export async function apikey(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  const flags = new Map<string, string>();
  for (const name of ['--data', '--data-dir']) {
    const v = flag(args, name);
    if (v !== undefined) flags.set(name, v);
  }
  const config = loadConfig({ flags });
  switch (args.positionals[0]) {
    case 'create':
      return create(args, config.dataDir, out);
    case 'list':
      for (const k of readStoredApiKeys(config.dataDir)) out(`${k.id}  ${k.tenant === null ? 'admin' : `tenant ${k.tenant}`}`);
      return;
    case 'revoke': {
      const id = args.positionals[1];
      if (!id) throw createError('SB_ERR_CLI_ARGS', 'usage: switchboard apikey revoke <id> (ids: switchboard apikey list)');
      if (!revokeStoredApiKey(config.dataDir, id)) throw createError('SB_ERR_CLI_ARGS', `no API key ${id} in ${config.dataDir}`);
      out(`API key ${id} revoked`);
      return;
    }
    default:
      throw createError('SB_ERR_CLI_ARGS', USAGE);
  }
}

function create(args: ParsedArgs, dataDir: string, out: (text: string) => void): void {
  const tenant = flag(args, '--tenant');
  const admin = flag(args, '--admin') === 'true';
  if (!admin && (!tenant || !TENANT_RE.test(tenant)))
    throw createError('SB_ERR_CLI_ARGS', '--tenant <tenant> (letters, digits, _ and -) or --admin is required');
  const { key, id } = createStoredApiKey(dataDir, admin ? null : (tenant as string));
  out(`API key ${id} (${admin ? 'admin' : `tenant ${tenant}`}), shown once:`);
  out(key);
}
