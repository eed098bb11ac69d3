import { type BenchContext, cpuSnapshot, phaseCpu } from '../context.js';
import { BenchFailure } from '../failure.js';
import { forgedStorm } from '../forged-storm.js';
import { formatInt } from '../format.js';
import { nowUs, sleep } from '../proc.js';
import type { Report } from '../report.js';
import { mintToken } from '../token.js';

/** The audit log's aggregation window: rows of a window are written once it has ended. */
const AUDIT_WINDOW_MS = 60_000;
/** How long after its window ended a row may take to be written (the server checks every second). */
const AUDIT_FLUSH_SLACK_MS = 10_000;
/** Entries per page of GET /api/v1/audit/system (its default page size). */
const AUDIT_PAGE = 100;

interface AuditEntry {
  type: string;
  ip: string | null;
  count: number;
  /** On an `audit.overflow` row: `types`, the events it counts per type. */
  detail: { types?: Record<string, number> } | null;
}

const FAILED = 'auth.failed';
const OVERFLOW = 'audit.overflow';

/** Refused tokens an entry counts: an `auth.failed` row's count, an overflow row's `auth.failed` share. */
const refusalsIn = (e: AuditEntry): number => (e.type === FAILED ? Number(e.count) : e.type === OVERFLOW ? Number(e.detail?.types?.[FAILED] ?? 0) : 0);

/** The system-scope audit entries (those of tokens whose signature did not verify) at or after `from`, every page. */
async function systemAudit(ctx: BenchContext, from: number): Promise<AuditEntry[]> {
  const { server } = ctx;
  const entries: AuditEntry[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const query = new URLSearchParams({ from: String(from), limit: String(AUDIT_PAGE), ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${server.httpUrl}/api/v1/audit/system?${query}`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    if (res.status !== 200) throw new BenchFailure(`reading the audit log: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { entries: AuditEntry[]; nextCursor: string | null };
    entries.push(...body.entries);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  return entries;
}

/**
 * The forged-token storm against the server of the run (bench/audit-storm.ts runs the same
 * storm in-process): `--forged` connects with bad signatures from one address, and meanwhile
 * good-token connects, after the same good loops alone for `--forged-baseline`. Then the
 * audit rows the storm caused, read back over the HTTP API once their minute windows were
 * written: bounded (`--audit-rows-per-ip` per window), every refusal counted in them.
 */
export async function runForgedStorm(ctx: BenchContext, report: Report): Promise<void> {
  const { args, progress, server, target } = ctx;
  if (!server.apiKey) throw new BenchFailure('the forged-token storm needs an admin API key (--api-key) for a server started elsewhere');
  const forged = args.count('--forged');
  const goodToken = await mintToken(target.secret, { sub: 'bench-good', tenant: target.tenant, caps: {}, ttlSeconds: target.tokenTtlSeconds });
  progress.phase(`Forged tokens: good connects alone for ${formatInt(args.ms('--forged-baseline'))} ms`);
  const storm = await forgedStorm({
    url: target.url,
    goodToken,
    forged,
    concurrency: args.count('--forged-concurrency'),
    goodLoops: 4,
    baselineMs: args.ms('--forged-baseline'),
    deadlineUs: ctx.deadlineUs - 90_000_000,
    onStorm: () => {
      ctx.gauge.mark();
      progress.phase(`Forged tokens: ${formatInt(forged)} forged connects and good ones meanwhile`);
    },
  });
  const snap = cpuSnapshot(ctx);

  // Rows of a minute window are written after it ends: wait for the last window the storm touched.
  const from = storm.startedAt - (storm.startedAt % AUDIT_WINDOW_MS);
  const lastWindowEnd = storm.endedAt - (storm.endedAt % AUDIT_WINDOW_MS) + AUDIT_WINDOW_MS;
  const windows = (lastWindowEnd - from) / AUDIT_WINDOW_MS;
  progress.phase('Forged tokens: waiting for the audit rows of the storm’s minute windows');
  const end = Math.min(nowUs() + (lastWindowEnd + AUDIT_FLUSH_SLACK_MS - Date.now()) * 1000, ctx.deadlineUs);
  let entries: AuditEntry[] = [];
  const counted = () => entries.reduce((n, e) => n + refusalsIn(e), 0);
  for (;;) {
    entries = await systemAudit(ctx, from);
    if ((counted() >= storm.refused && Date.now() >= lastWindowEnd) || nowUs() >= end) break;
    await sleep(1000);
  }
  // The storm's rows: its refusals', and the overflow rows of its address (which may count the bench's API calls too).
  const rows = entries.filter((e) => e.type === FAILED || (e.type === OVERFLOW && refusalsIn(e) > 0));
  const events = counted();
  const rowCap = args.count('--audit-rows-per-ip') * windows;
  const rate = (g: { ok: number; seconds: number }) => g.ok / g.seconds;

  report.section('Forged-token storm');
  report.add(
    'forged.refused',
    storm.refused,
    'forged connects refused',
    `${formatInt(storm.refused)} of ${formatInt(storm.made)} in ${storm.stormSeconds.toFixed(2)} s = ${formatInt(storm.made / storm.stormSeconds)} /s`,
  );
  report.add('forged.accepted', storm.accepted, 'forged connects accepted', formatInt(storm.accepted));
  report.add(
    'forged.auditRows',
    rows.length,
    'audit rows written for them',
    `${formatInt(rows.length)} (${rows.filter((r) => r.type === OVERFLOW).length} ${OVERFLOW}) over ${windows} minute window${windows === 1 ? '' : 's'}`,
  );
  report.add('forged.auditEvents', events, 'refusals counted in those rows', formatInt(events));
  report.add('forged.goodBaselinePerSecond', Math.round(rate(storm.baseline)), 'good-token connects/s alone', formatInt(rate(storm.baseline)));
  report.add('forged.goodDuringPerSecond', Math.round(rate(storm.during)), 'good-token connects/s during the storm', formatInt(rate(storm.during)));
  report.add(
    'forged.goodFailed',
    storm.baseline.failed + storm.during.failed,
    'good-token connects refused',
    formatInt(storm.baseline.failed + storm.during.failed),
  );
  report.add(
    'forged.handshakesPerSecond',
    Math.round(storm.made / storm.stormSeconds + rate(storm.during)),
    'connects/s during the storm (forged + good)',
    formatInt(storm.made / storm.stormSeconds + rate(storm.during)),
  );
  phaseCpu(report, 'forged', snap, storm.made + storm.during.ok, 'connect');
  report.check(
    'Forged tokens: every forged connect refused',
    storm.accepted === 0 && storm.made === forged,
    `${formatInt(storm.refused)} of ${formatInt(forged)}`,
  );
  report.check('Forged tokens: every refusal counted in the audit log', events === storm.refused, `${formatInt(events)} of ${formatInt(storm.refused)}`);
  report.check(
    'Forged tokens: audit rows bounded',
    rows.length <= rowCap,
    `${formatInt(rows.length)} rows, at most ${formatInt(rowCap)} (${args.count('--audit-rows-per-ip')} per IP per minute window)`,
  );
  report.check(
    'Forged tokens: every good-token connect accepted',
    storm.baseline.failed + storm.during.failed === 0,
    `${storm.baseline.failed + storm.during.failed} refused`,
  );
}
