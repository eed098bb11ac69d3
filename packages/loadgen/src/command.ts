import { availableParallelism, loadavg } from 'node:os';
import { ChildRegistry } from './children.js';
import type { BenchContext, Scenario } from './context.js';
import { BenchFailure, BenchUsageError } from './failure.js';
import { Fleet } from './fleet.js';
import { type BenchArgv, optionHelp, parseBenchArgs } from './options.js';
import { COMMON_OPTIONS, planRun, postgresUrl, type RunPlan, redisUrl } from './plan.js';
import { nowUs, ServerGauge } from './proc.js';
import { Progress } from './progress.js';
import type { Report } from './report.js';
import { commentsScenario } from './scenarios/comments.js';
import { connectScenario } from './scenarios/connect.js';
import { documentsScenario } from './scenarios/documents.js';
import { fanoutScenario, manyChannelsScenario } from './scenarios/fanout.js';
import { loadScenarios } from './scenarios/load.js';
import { locksScenario } from './scenarios/locks.js';
import { metricsFanoutScenario } from './scenarios/metrics-fanout.js';
import { metricsIngestScenario } from './scenarios/metrics-ingest.js';
import { notificationsScenario } from './scenarios/notifications.js';
import { presenceChurnScenario } from './scenarios/presence-churn.js';
import { reconnectStormScenario } from './scenarios/reconnect-storm.js';
import { webhooksScenario } from './scenarios/webhooks.js';
import { type BenchServer, existingServer, type ServerHost, startOwnServer } from './target.js';

const SCENARIOS: readonly Scenario[] = [
  connectScenario,
  fanoutScenario,
  manyChannelsScenario,
  presenceChurnScenario,
  reconnectStormScenario,
  notificationsScenario,
  commentsScenario,
  locksScenario,
  webhooksScenario,
  documentsScenario,
  metricsIngestScenario,
  metricsFanoutScenario,
  ...loadScenarios,
];

/** `switchboard bench --help`, or the options of one scenario. */
export function benchHelp(args: BenchArgv): string {
  const scenario = SCENARIOS.find((s) => s.name === args.positionals[0]);
  if (scenario) {
    return `Usage: switchboard bench ${scenario.name} [options]

${scenario.summary}.

Options of ${scenario.name}:
${optionHelp(scenario.options)}

Common options:
${optionHelp(COMMON_OPTIONS)}
`;
  }
  return `Usage: switchboard bench <scenario> [options]

Load generator. Starts its own server (node …/cli/main.js serve on a free 127.0.0.1 port,
temporary data directory, limits raised for load) unless --url names a running one, opens
the connections in worker processes, prints live progress on stderr and a table (or, with
--json, one JSON object) on stdout. Every run ends by itself: bounded in time (--duration,
--timeout) and in count. Exit status: 0 when every check passed, 1 when one failed or the
run could not complete, 2 for bad arguments. See docs/load-testing.md.

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.summary}`).join('\n')}

Common options:
${optionHelp(COMMON_OPTIONS)}

Run switchboard bench <scenario> --help for the options of a scenario.
Durations: seconds (10, 1.5) or with a unit (500ms, 10s, 2m). Counts take a k suffix (10k).
`;
}

interface Running {
  registry: ChildRegistry;
  server?: BenchServer;
  fleet?: Fleet;
  progress?: Progress;
}

/** Resolves with the scenario's report, or rejects when the deadline passes first. */
function withDeadline(run: Promise<Report>, deadlineUs: number, timeoutMs: number, phase: () => string): Promise<Report> {
  run.catch(() => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new BenchFailure(`the run passed its deadline of ${Math.round(timeoutMs / 1000)} s (--timeout) during "${phase()}"`)),
      Math.max(1, (deadlineUs - nowUs()) / 1000),
    );
    run.then(
      (r) => {
        clearTimeout(timer);
        resolve(r);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Run the scenario; resolves with its output once every process it started has stopped. */
async function execute(host: ServerHost, plan: RunPlan): Promise<{ ok: boolean; text: string }> {
  const { args, scenario } = plan;
  const startedUs = nowUs();
  const deadlineUs = startedUs + plan.timeoutMs * 1000;
  const running: Running = { registry: new ChildRegistry() };
  const onSignal = (signal: NodeJS.Signals) => {
    running.progress?.stop();
    running.fleet?.kill();
    running.server?.kill();
    running.registry.killAll();
    process.stderr.write(`switchboard bench: ${signal}: stopped (child processes killed)\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const server = plan.external
      ? existingServer(plan.external)
      : await startOwnServer(
          host,
          {
            namespace: args.text('--namespace'),
            historySize: args.count('--history'),
            extraFlags: [...(scenario.serverFlags?.(args) ?? []), ...args.list('--server-flag')],
            // Generous: on a loaded machine a cold start (module loading, migrations) can take a minute.
            startTimeoutMs: 120_000,
            storage: args.text('--storage') as 'sqlite' | 'postgres',
            postgresUrl: postgresUrl(args),
            nodes: plan.nodes,
            nodeFlags: args.list('--node-flag'),
            heapProbe: scenario.heapProbe?.(args) ?? false,
            ...(plan.nodes > 1 ? { redisUrl: redisUrl(args) } : {}),
          },
          running.registry,
        );
    running.server = server;
    const target = {
      url: server.url,
      secret: server.secret,
      tenant: args.text('--tenant'),
      namespace: args.text('--namespace'),
      tokenTtlSeconds: Math.ceil(plan.timeoutMs / 1000) + 600,
      ...(server.nodes.length > 1 ? { nodeUrls: server.nodes.map((n) => n.url) } : {}),
    };
    const fleet = Fleet.start(plan.workers, target, plan.addresses, plan.concurrency, running.registry);
    running.fleet = fleet;
    const gauge = new ServerGauge(server.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid])));
    gauge.setGenerator(fleet.pids);
    const progress = new Progress(plan.progress, fleet, gauge, scenario.name);
    running.progress = progress;
    const rssStart = gauge.rss();
    const ctx: BenchContext = { args, server, target, fleet, gauge, progress, deadlineUs };
    const report = await withDeadline(scenario.run(ctx), deadlineUs, plan.timeoutMs, () => progress.current);
    progress.stop();
    const several = server.nodes.length > 1;
    if (several) report.note(`${server.nodes.length} server processes (nodes) sharing Redis: server CPU and RSS are their sum.`);
    const elapsed = (nowUs() - startedUs) / 1e6;
    if (args.bool('--json')) {
      const text = JSON.stringify(
        report.json({
          elapsedSeconds: Math.round(elapsed * 100) / 100,
          machine: {
            cpus: availableParallelism(),
            loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
            openFilesLimit: plan.fileLimit,
            node: process.version,
          },
          server: {
            spawned: server.spawned,
            pid: server.pid ?? null,
            url: server.url,
            storage: server.storage,
            rssStart,
            nodes: server.nodes.length,
            ...(several ? { pids: server.nodes.map((n) => n.pid ?? null), urls: server.nodes.map((n) => n.url), figures: 'summed over the nodes' } : {}),
          },
          generator: { workers: plan.workers, workerPids: fleet.pids, sourceAddresses: plan.addresses.length, concurrency: plan.concurrency },
        }),
      );
      return { ok: report.ok, text };
    }
    const how = `(${plan.workers} worker${plan.workers === 1 ? '' : 's'}, ${plan.addresses.length || 'default'} source address${plan.addresses.length === 1 ? '' : 'es'}, ${server.spawned ? (several ? `${server.nodes.length} servers started by the bench on PostgreSQL and Redis, pids ${server.nodes.map((n) => n.pid).join(' ')} (CPU and RSS summed)` : `server started by the bench on ${server.storage === 'postgres' ? 'PostgreSQL' : 'SQLite'}, pid ${server.pid}`) : `server at ${server.url}`}, ${elapsed.toFixed(1)} s)`;
    return { ok: report.ok, text: `${report.table()}\n${how}` };
  } finally {
    running.progress?.stop();
    await running.fleet?.stop().catch(() => running.fleet?.kill());
    await running.server?.stop().catch(() => running.server?.kill());
    running.registry.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `switchboard bench <scenario> [options]`: runs the scenario, writes its table or JSON with
 * `out` and sets the exit status. Bad arguments throw a BenchUsageError.
 */
export async function bench(args: BenchArgv, out: (text: string) => void, host: ServerHost): Promise<void> {
  const name = args.positionals[0];
  const names = SCENARIOS.map((s) => s.name).join(', ');
  if (!name) throw new BenchUsageError(`bench needs a scenario: ${names} (see switchboard bench --help)`);
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new BenchUsageError(`unknown bench scenario "${name}"; scenarios: ${names}`);
  const plan = planRun(scenario, parseBenchArgs(args, [...scenario.options, ...COMMON_OPTIONS], name));
  let ok = false;
  try {
    const result = await execute(host, plan);
    ok = result.ok;
    // Written after the cleanup: a reader that goes away early (| head) cannot leave a server behind.
    out(result.text);
  } catch (err) {
    if (!(err instanceof BenchFailure) && !(err instanceof Error && /no ".*" within|exited|is not running/.test(err.message))) throw err;
    process.stderr.write(`switchboard bench ${name}: ${err.message}\n`);
  }
  process.exitCode = ok ? 0 : 1;
  // Whatever a failed run left behind (a keep-alive socket, a scenario timer) must not hold the process.
  setTimeout(() => process.exit(), 2000).unref();
}
