import { OpCounter } from '../activities.js';
import { connectFigures, drain, integrityChecks, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { BenchFailure } from '../failure.js';
import { formatInt, formatPct, round } from '../format.js';
import { nowUs } from '../proc.js';
import { Report } from '../report.js';
import { ReplyFailure } from '../wire.js';

interface CreateAnswer {
  notifications?: Array<{ user: string; pushed: boolean }>;
  error?: { code: number; message: string; temporary: boolean };
}

/**
 * The backend creates notifications over the HTTP API for users who are connected and
 * subscribed to their `user:{sub}` channel; each device counts the live pushes and the
 * time from the create request to the push (the request's send time rides in `data.t`).
 */
export const notificationsScenario: Scenario = {
  name: 'notifications',
  summary: 'POST /api/v1/notifications to connected users: delivered/s and create → receipt latency',
  options: [
    { flag: '--users', kind: 'count', default: '200', help: 'connected users, each subscribed to user:{sub}' },
    { flag: '--notifications', kind: 'count', default: '2000', help: 'notifications to create in all' },
    { flag: '--batch', kind: 'count', default: '1', help: 'recipients per create request (users: [...])' },
    { flag: '--parallel', kind: 'count', default: '8', help: 'create requests in flight' },
    { flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for pushes after the last request' },
  ],
  connections: (a) => a.count('--users'),
  estimateMs: (a) => 120_000 + a.count('--users') * 10 + a.count('--notifications') * 5 + a.ms('--drain'),

  async run(ctx) {
    const { args, fleet, gauge, progress, server, target } = ctx;
    const users = args.count('--users');
    const total = args.count('--notifications');
    const batch = args.count('--batch');
    if (batch > users) throw new BenchFailure(`--batch ${batch} exceeds --users ${users} (recipients of one request are distinct)`);
    if (!server.apiKey) throw new BenchFailure('the notifications scenario needs an API key (--api-key) for a server started elsewhere');
    const report = new Report('notifications', args.toJSON());

    progress.phase('connecting users', users, (c) => c.open + c.failed);
    const open = await fleet.open({ count: users, userPrefix: 'n', layout: { kind: 'user' } }, remainingMs(ctx));
    await fleet.all({ type: 'reset' }, 'reset', 10_000);
    gauge.mark();

    const url = `${server.httpUrl}/api/v1/notifications`;
    const headers = { authorization: `Bearer ${server.apiKey}`, 'x-switchboard-tenant': target.tenant, 'content-type': 'application/json' };
    const requests = Math.ceil(total / batch);
    const perChannel: Record<string, number> = {};
    const ops = new OpCounter();
    let created = 0;
    let next = 0;
    const startUs = nowUs();
    const create = async (k: number): Promise<void> => {
      const count = Math.min(batch, total - k * batch);
      const recipients = Array.from({ length: count }, (_, j) => `n${(k * batch + j) % users}`);
      const body = {
        ...(count === 1 ? { user: recipients[0] } : { users: recipients }),
        type: 'message',
        title: `bench ${k}`,
        data: { t: nowUs() },
      };
      const answer = await ops.track(
        null,
        fetch(url, { method: 'POST', headers, body: JSON.stringify(body) }).then(async (res) => {
          const json = (await res.json()) as CreateAnswer;
          if (!res.ok) throw json.error ? new ReplyFailure(json.error) : new Error(`HTTP ${res.status}`);
          return json;
        }),
      );
      for (const n of answer?.notifications ?? []) {
        created++;
        if (n.pushed) perChannel[`user:${n.user}`] = (perChannel[`user:${n.user}`] ?? 0) + 1;
      }
    };
    const lane = async (): Promise<void> => {
      while (next < requests && nowUs() < ctx.deadlineUs) await create(next++);
    };
    progress.phase('creating', total, (c) => c.measured);
    await Promise.all(Array.from({ length: Math.min(args.count('--parallel'), requests) }, lane));
    const createSeconds = (nowUs() - startUs) / 1e6;
    const pushed = Object.values(perChannel).reduce((a, b) => a + b, 0);
    progress.phase('draining', pushed, (c) => c.measured);
    await drain(ctx, pushed, args.ms('--drain'));
    const r = await fleet.results({}, perChannel);
    const deliverSeconds = Math.max(1e-3, ((r.lastRecvUs || nowUs()) - startUs) / 1e6);

    report.section('Load');
    connectFigures(report, 'connect', open);
    report.add(
      'requests.sent',
      requests,
      'create requests',
      `${formatInt(ops.ok)} answered of ${formatInt(requests)} (${batch} recipient${batch === 1 ? '' : 's'} each, ${args.count('--parallel')} in flight)${ops.failed ? `, ${formatInt(ops.failed)} failed ${JSON.stringify(ops.errors)}` : ''}`,
    );
    report.add('requests.failed', ops.failed);
    report.latency('requests.latency', 'create request', ops.latency);
    report.add(
      'notifications.created',
      created,
      'notifications created',
      `${formatInt(created)} in ${createSeconds.toFixed(2)} s = ${formatInt(created / Math.max(1e-3, createSeconds))} /s`,
    );
    report.add('notifications.createdPerSecond', round(created / Math.max(1e-3, createSeconds), 1));
    report.add('notifications.pushed', pushed);

    report.section('Delivery');
    const pct = pushed ? (r.measured / pushed) * 100 : 100;
    report.add('delivery.delivered', r.measured, 'delivered live', `${formatInt(r.measured)} of ${formatInt(pushed)} pushed (${formatPct(pct)})`);
    report.add('delivery.deliveredPct', round(pct, 3));
    report.add('delivery.perSecond', round(r.measured / deliverSeconds, 1), 'delivered/s', formatInt(r.measured / deliverSeconds));
    report.latency('delivery.latency', 'create → receipt', r.latency);
    integrityChecks(report, r);
    const lost = lostFigures(report, r.lost);

    report.section('Server');
    serverWindow(report, ctx, r.measured, 'notification (HTTP request, SQLite write, push)');

    report.check('every user connected', open.ok === users, `${formatInt(open.ok)} of ${formatInt(users)}`);
    report.check('every create request succeeded', ops.failed === 0 && created === total, `${formatInt(created)} of ${formatInt(total)} created`);
    report.check('every pushed notification delivered', r.measured === pushed && r.measured === r.expected, `${formatInt(r.measured)} of ${formatInt(pushed)}`);
    report.check('no connection lost', lost === 0, `${formatInt(lost)} lost`);
    return report;
  },
};
