#!/usr/bin/env node
import { SwitchboardError } from '../errors/sb-error.js';
import { APIKEY_HELP, apikey } from './apikey.js';
import { parseArgs } from './args.js';
import { bench, benchHelp } from './bench.js';
import { MIGRATE_HELP, migrate } from './migrate.js';
import { SCHEMA_HELP, schema } from './schema.js';
import { SERVE_HELP, serve } from './serve.js';
import { TOKEN_HELP, token } from './token.js';

const HELP = `Usage: switchboard <command> [options]

Commands:
  serve     start a server (default when no command is given)
  token     print a connection token (JWT) for a user and tenant
  apikey    create an API key for the HTTP API
  migrate   apply pending database migrations (SQLite or PostgreSQL), with progress
  schema    schema types: TypeScript types for the namespaces' payload schemas
  bench     load generator: connect, fanout, reconnect-storm, … against a server it starts or --url

Run switchboard <command> --help for the options of a command.
`;

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  // `switchboard --help` lists the commands; `switchboard serve --help` the server's options.
  if (args.command === undefined && args.help) return out(HELP);
  const command = args.command ?? 'serve';
  switch (command) {
    case 'serve':
      if (args.help) return out(SERVE_HELP());
      return serve(args, out);
    case 'token':
      if (args.help) return out(TOKEN_HELP);
      return token(args, out);
    case 'apikey':
      if (args.help) return out(APIKEY_HELP);
      return apikey(args, out);
    case 'migrate':
      if (args.help) return out(MIGRATE_HELP);
      return migrate(args, out);
    case 'schema':
      if (args.help) return out(SCHEMA_HELP);
      return schema(args, out);
    case 'bench':
      if (args.help) return out(await benchHelp(args));
      return bench(args, out);
    case 'help':
      return out(HELP);
    default:
      if (args.help) return out(HELP);
      process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof SwitchboardError) {
    process.stderr.write(`switchboard: ${err.message}\n`);
    process.exit(err.code === 'SB_ERR_CLI_ARGS' ? 2 : 1);
  }
  process.stderr.write(`switchboard: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
