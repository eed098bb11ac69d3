import { connectFigures, lostFigures, machineFigures, remainingMs, type Scenario } from '../context.js';
import { formatBytes, formatInt, round } from '../format.js';
import { sleep } from '../proc.js';
import { Report } from '../report.js';

/** N idle connections: how fast they open, how many succeed, what each costs the server in memory. */
export const connectScenario: Scenario = {
  name: 'connect',
  summary: 'open N connections and hold them idle: connect rate, success, server RSS per idle connection',
  options: [
    { flag: '--connections', kind: 'count', default: '1000', help: 'connections to open' },
    { flag: '--subscribe', kind: 'choice', choices: ['no', 'yes'], default: 'no', help: 'also subscribe each to one shared channel' },
    { flag: '--hold', kind: 'duration', default: '3s', help: 'idle time after the last connection before the server RSS is read' },
  ],
  connections: (a) => a.count('--connections'),
  estimateMs: (a) => 60_000 + a.count('--connections') * 10 + a.ms('--hold'),

  async run(ctx) {
    const { args, fleet, gauge, progress } = ctx;
    const n = args.count('--connections');
    const report = new Report('connect', args.toJSON());
    await sleep(500);
    const rssBefore = gauge.rss();
    gauge.mark();
    progress.phase('connecting', n, (c) => c.open + c.failed);
    const layout = args.text('--subscribe') === 'yes' ? { kind: 'one' as const, channel: `${ctx.target.namespace}:connect` } : { kind: 'none' as const };
    const open = await fleet.open({ count: n, userPrefix: 'c', layout }, remainingMs(ctx));
    const cpu = gauge.cpu();
    const machine = { generator: gauge.generatorCpu(), others: gauge.othersCpu() };
    progress.phase(`holding ${n} idle connections`);
    await sleep(args.ms('--hold'));
    const rssAfter = gauge.rss();
    const r = await fleet.results({}, {});

    report.section('Connections');
    connectFigures(report, 'connect', open);
    report.add('connect.seconds', round(open.seconds, 3), 'time to open all', `${open.seconds.toFixed(2)} s`);
    report.add('connect.openAtEnd', r.open, 'still open after the hold', formatInt(r.open));
    const lost = lostFigures(report, r.lost);

    report.section('Server');
    machineFigures(report, ctx, machine);
    if (cpu) {
      report.add(
        'server.cpuSeconds',
        round(cpu.seconds, 2),
        'server CPU while connecting',
        `${cpu.seconds.toFixed(2)} s (${Math.round(cpu.pct)}% of one core)`,
      );
      if (open.ok > 0)
        report.add(
          'server.cpuUsPerConnection',
          round((cpu.seconds * 1e6) / open.ok, 1),
          'server CPU per connection',
          `${((cpu.seconds * 1e6) / open.ok).toFixed(0)} µs`,
        );
    }
    if (rssBefore !== null && rssAfter !== null) {
      report.add('server.rssBefore', rssBefore, 'server RSS before', formatBytes(rssBefore));
      report.add('server.rssAfter', rssAfter, `server RSS with ${formatInt(r.open)} idle`, formatBytes(rssAfter));
      if (r.open > 0) {
        const per = (rssAfter - rssBefore) / r.open;
        report.add('server.rssPerConnection', Math.round(per), 'RSS per idle connection', formatBytes(per));
      }
      report.note('RSS is read from /proc without forcing a garbage collection in the server, so it includes garbage not yet collected.');
    } else {
      report.add('server.measured', false, 'server CPU / RSS', 'not measured (give --server-pid for a server started elsewhere)');
    }

    report.check('every connection opened', open.ok === n, `${formatInt(open.ok)} of ${formatInt(n)}`);
    report.check('no connection lost while idle', lost === 0 && r.open === open.ok, `${formatInt(r.open)} open at the end`);
    return report;
  },
};
