import cluster from 'node:cluster';
import type { Config } from '../config/schema.js';
import { listOptions, loadConfig } from '../features/builtin.js';
import { demoEnabled } from '../http/api/demo-token.js';
import { consoleBuilt } from '../http/console.js';
import { sdkUrl } from '../http/sdk.js';
import { Switchboard } from '../server.js';
import { flag, type ParsedArgs } from './args.js';
import { workerHostView } from './host-reports.js';
import { printsBanner, reportListening, servePrimary, workerCount, workerEngine, workerIndex } from './workers.js';

export const SERVE_HELP = () => {
  const lines = listOptions().map((o) => `  ${o.flag.padEnd(44)} ${o.env}\n  ${''.padEnd(44)} ${o.description}`);
  return `Usage: switchboard serve [options]

Starts one Switchboard server. Every option can also be set in a JSON config file
(--config file.json or SWITCHBOARD_CONFIG, same nested keys as the dotted flag names,
camelCase) or by its environment variable. Precedence: defaults < file < environment < flags.
Durations take "250ms", "10s", "5m", "1h" or milliseconds. Short aliases: --data (= --data-dir),
--secret (= --auth.secret; env SWITCHBOARD_SECRET).

Options (flag, environment variable, description):
  --config <file>                              SWITCHBOARD_CONFIG
                                               JSON config file
${lines.join('\n')}
`;
};

const DEV_CAPS = {
  'project:*': ['subscribe', 'publish', 'presence', 'history', 'signal', 'comment'],
  'chat:*': ['subscribe', 'publish', 'presence', 'history', 'signal'],
  'analytics:*': ['subscribe', 'history'],
};

export async function serve(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  const flags = new Map(args.flags.filter(([k]) => k !== '--config'));
  const file = flag(args, '--config');
  let config = loadConfig({ ...(file ? { file } : {}), flags });
  if (cluster.isPrimary && workerCount(config) > 1) return servePrimary(config, out);
  // A worker of `--workers N` runs on its primary's in-host engine (or Redis) and prints the banner once.
  const inWorker = cluster.isWorker;
  const index = workerIndex();
  // A configured node id names the host: each worker gets it with its index, so no two share one.
  if (inWorker && index !== null && config.nodeId)
    config = loadConfig({ ...(file ? { file } : {}), flags: new Map([...flags, ['--node-id', `${config.nodeId}-${index}`]]) });
  const engine = inWorker ? await workerEngine(config) : undefined;
  const banner = !inWorker || printsBanner();
  // The server is created after the view: reports are asked for only once it listens.
  let self: Switchboard | null = null;
  const hostView =
    inWorker && index !== null
      ? workerHostView(index, async (withMetrics) => {
          const { ready, checks } = self?.node.readiness() ?? { ready: false, checks: { worker: 'starting' } };
          return { ready, checks, ...(withMetrics && self ? { metrics: await self.node.metrics.registry.getMetricsAsJSON() } : {}) };
        })
      : undefined;
  const server = await Switchboard.create({ config, ...(engine ? { engine } : {}), ...(hostView ? { hostView } : {}) });
  self = server;
  // Signals are handled before the port opens: a SIGTERM that arrives while the banner is
  // printed (or a token minted) drains and stops, never kills the process outright.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out(`${signal}: draining and shutting down`);
    const force = setTimeout(() => {
      out('shutdown took too long, exiting');
      process.exit(1);
    }, config.timeouts.shutdown);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        out(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Without TLS there is nothing to reload, and SIGHUP keeps its default (the process ends).
  if (server.tls) {
    process.on('SIGHUP', () => {
      if (stopping) return;
      out('SIGHUP: reloading the TLS certificate and key');
      // reloadTls logs the outcome; a bad file keeps the certificate in use.
      server.reloadTls().catch(() => {});
    });
  }
  const { port } = await server.listen();
  if (banner) printBanner(server, config, port, out);
  if (config.development && server.secret && banner) await printDevelopment(server, config, port, out);
  if (inWorker) reportListening(port, () => stop('primary gone'));
}

function baseUrl(server: Switchboard, config: Readonly<Config>, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `${server.tls ? 'https' : 'http'}://${host}:${port}`;
}

function printBanner(server: Switchboard, config: Readonly<Config>, port: number, out: (text: string) => void): void {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const ws = server.tls ? 'wss' : 'ws';
  const base = baseUrl(server, config, port);
  out(`Switchboard listening on port ${port} (node ${server.node.id}, engine ${server.node.engine.name})`);
  out(`  WebSocket:  ${ws}://${host}:${port}/ws`);
  out(`  HTTP API:   ${base}/api/v1   (OpenAPI: /api/v1/openapi.json)`);
  out(`  Health:     ${base}/healthz   /readyz   /metrics`);
  if (config.console.enabled) out(`  Console:    ${base}/console/${consoleBuilt() ? '' : '   (not built: run npm run build)'}`);
  if (server.tls)
    out(`  TLS:        ${server.tls.subject.replace(/\n/g, ', ')}, valid to ${server.tls.validTo} (SHA-256 ${server.tls.fingerprint256}); SIGHUP reloads`);
  const sdk = server.sdk;
  const classic = sdk?.files['switchboard.js'];
  if (sdk && classic) {
    out(`  Browser SDK: <script src="${sdkUrl(base, sdk, 'switchboard.js')}" integrity="${classic.integrity}" crossorigin="anonymous"></script>`);
    out(`               or import { SwitchboardClient } from '${sdkUrl(base, sdk, 'switchboard.mjs')}'`);
  }
  const { ready, checks } = server.node.readiness();
  if (!ready) {
    // Say what the node waits for, rather than a banner that reads as if all were well.
    const waiting = Object.entries(checks)
      .filter(([, state]) => state !== 'ok')
      .map(([name, state]) => `${name}: ${state}`);
    out(`  NOT READY:  ${waiting.join('; ')} — retrying; /readyz answers 503 until then`);
  }
}

async function printDevelopment(server: Switchboard, config: Readonly<Config>, port: number, out: (text: string) => void): Promise<void> {
  const base = baseUrl(server, config, port);
  const token = await server.mintToken({ sub: 'dev', tenant: 'demo', caps: DEV_CAPS as never, ttlSeconds: 24 * 3600 });
  out('');
  out('Development mode (secret and admin key in the data directory; never use in production):');
  out(`  Token (tenant demo, user dev, 24h): ${token}`);
  if (server.devAdminKey) out(`  Admin API key: ${server.devAdminKey}`);
  // The key in the fragment: never sent to the server, and the console removes it from the address bar.
  if (server.devAdminKey && config.console.enabled) out(`  Admin console: ${base}/console/admin#key=${encodeURIComponent(server.devAdminKey)}`);
  // Two windows of the demo workspace are the quickest way to see two people work together.
  if (demoEnabled(config)) out(`  Demo:          ${base}/console/demo   (open it in two windows, join under two names)`);
  out(`  More tokens:   npx switchboard token --sub alice --tenant demo --ttl 1h --cap 'project:*=subscribe,publish,presence' --data ${config.dataDir}`);
  out(
    `  Try it:        curl -H "Authorization: Bearer <admin key>" -H "X-Switchboard-Tenant: demo" -H "Content-Type: application/json" -d '{"channel":"project:1","data":{"hello":"world"}}' ${base}/api/v1/publish`,
  );
}
