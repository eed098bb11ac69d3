import { CAPABILITY_ACTIONS, parseCapabilityFlag } from '../auth/capabilities.js';
import { loadKeyMaterial, secretSource } from '../auth/key-files.js';
import { mintToken } from '../auth/mint.js';
import { parseDuration } from '../config/duration.js';
import { createError } from '../errors/sb-error.js';
import { loadConfig } from '../features/builtin.js';
import { flag, flagAll, type ParsedArgs } from './args.js';

export const TOKEN_HELP = `Usage: switchboard token --sub <user> --tenant <tenant> [--ttl 1h] [--cap 'pattern=actions']... [--info JSON]

Prints a connection token (HS256 JWT) signed with the configured secret (--secret,
SWITCHBOARD_SECRET, the config file) or, in development mode, the one in the data directory
(--data ./data). --cap may repeat: a channel pattern ('*' matches anything) and a comma-separated
list of actions: ${CAPABILITY_ACTIONS.join(', ')}.
Example: switchboard token --sub alice --tenant acme --ttl 1h --cap 'project:*=subscribe,publish,presence'
Metric points from clients: --cap 'metrics:web.*=ingest' (the series web.*, docs/metrics.md)
`;

export async function token(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  const sub = flag(args, '--sub');
  const tenant = flag(args, '--tenant');
  if (!sub || !tenant) throw createError('SB_ERR_CLI_ARGS', '--sub and --tenant are required (see switchboard token --help)');
  const ttl = parseDuration(flag(args, '--ttl') ?? '1h');
  if (ttl === null || ttl < 1000) throw createError('SB_ERR_CLI_ARGS', '--ttl must be a duration like 30m, 1h, 7d');
  const caps: Record<string, string[]> = {};
  for (const c of flagAll(args, '--cap')) {
    const parsed = parseCapabilityFlag(c);
    if (!parsed)
      throw createError('SB_ERR_CLI_ARGS', `--cap ${c}: expected 'pattern=action,action' with actions subscribe, publish, presence, history, signal`);
    caps[parsed[0]] = [...new Set([...(caps[parsed[0]] ?? []), ...parsed[1]])];
  }
  const infoText = flag(args, '--info');
  let info: unknown;
  if (infoText !== undefined) {
    try {
      info = JSON.parse(infoText);
    } catch {
      throw createError('SB_ERR_CLI_ARGS', '--info must be JSON');
    }
  }
  const flags = new Map<string, string>();
  for (const name of ['--data', '--data-dir', '--secret', '--auth.secret', '--development']) {
    const v = flag(args, name);
    if (v !== undefined) flags.set(name, v);
  }
  const file = flag(args, '--config');
  const config = loadConfig({ ...(file ? { file } : {}), flags });
  // Never make a new secret here: a token signed with a secret no server uses fails with "signature invalid".
  const keys = loadKeyMaterial(config, false);
  if (!keys.secret) throw createError('SB_ERR_NO_TOKEN_KEY', 'no HMAC secret: pass --secret or --data pointing at a development data directory');
  process.stderr.write(`signed with ${secretSource(config)}\n`);
  out(await mintToken(keys.secret, { sub, tenant, caps: caps as never, ttlSeconds: Math.round(ttl / 1000), ...(info !== undefined ? { info } : {}) }));
}
