import { TENANT_RE } from '@switchboard/protocol';
import { createStoredApiKey, readStoredApiKeys, revokeStoredApiKey } from '../auth/key-files.js';
import { createError } from '../errors/sb-error.js';
import { loadConfig } from '../features/builtin.js';
import { flag, type ParsedArgs } from './args.js';

export const APIKEY_HELP = `Usage: switchboard apikey create (--tenant <tenant> | --admin) [--read-only] [--data ./data]
       switchboard apikey list [--data ./data]
       switchboard apikey revoke <id> [--data ./data]

create stores only the new key's SHA-256 hash in <data>/api-keys.json and prints the key
once. A tenant key acts only within its tenant; an admin key names the tenant in each
request (X-Switchboard-Tenant header). A --read-only key may call only GET routes: any other
method is refused (403, code 158). list prints each stored key's id and scope (never the
key). A server using that data directory takes a created or revoked key into account from
its next request, without a restart.
`;

const USAGE = 'usage: switchboard apikey create --tenant <tenant> | --admin [--read-only]; apikey list; apikey revoke <id>';

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
      for (const k of readStoredApiKeys(config.dataDir)) out(`${k.id}  ${scope(k.tenant, k.readOnly === true)}`);
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
  const readOnly = flag(args, '--read-only') === 'true';
  if (!admin && (!tenant || !TENANT_RE.test(tenant)))
    throw createError('SB_ERR_CLI_ARGS', '--tenant <tenant> (letters, digits, _ and -) or --admin is required');
  const { key, id } = createStoredApiKey(dataDir, admin ? null : (tenant as string), readOnly);
  out(`API key ${id} (${scope(admin ? null : (tenant as string), readOnly)}), shown once:`);
  out(key);
}

/** How `create` and `list` name a key's scope: `admin`, `tenant acme`, `admin, read-only`. */
function scope(tenant: string | null, readOnly: boolean): string {
  return `${tenant === null ? 'admin' : `tenant ${tenant}`}${readOnly ? ', read-only' : ''}`;
}
