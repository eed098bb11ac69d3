/**
 * The benchmark targets (docs/benchmarks.md), checked against one run's aggregated
 * results as ratios between servers measured in that same run.
 */
import { SERVER_LABELS, type ServerKind } from '@switchboard/loadgen';
import type { ConnectAgg, FanoutAgg } from './report.js';
import type { StormRun } from './results.js';
import type { ServerVariant } from './variants.js';
import { workerRows } from './worker-targets.js';

/** p99 bar for "sustained" fan-out, ms. */
export const SUSTAINED_P99_MS = 50;

export interface TargetRow {
  target: string;
  measured: string;
  /** true met, false missed, null not measured in this run. */
  met: boolean | null;
}

/** The highest rate at which `kind` delivered everything with p99 under the bar, at `subscribers`. */
export function highestSustained(fan: FanoutAgg[], kind: ServerVariant, subscribers: number): FanoutAgg | undefined {
  return fan.filter((f) => f.server === kind && f.subscribers === subscribers && f.complete && f.p99 < SUSTAINED_P99_MS).sort((a, b) => b.rate - a.rate)[0];
}

const x = (v: number) => (Number.isFinite(v) ? `×${v.toFixed(2)}` : '–');
const n = (v: number) => Math.round(v).toLocaleString('en-US');

export function targetRows(fan: FanoutAgg[], con: ConnectAgg[], storm?: StormRun): TargetRow[] {
  const rows: TargetRow[] = [];
  const at = (kind: ServerKind, subs: number, rate: number) => fan.find((f) => f.server === kind && f.subscribers === subs && f.rate === rate);

  // raw ws's lowest CPU per delivery in any run it completed at 1,000 subscribers: the
  // conservative yardstick when it could not deliver a rate (its cost per delivered message
  // then includes work still queued).
  const wsBest = Math.min(
    ...fan.filter((f) => f.server === 'ws' && f.subscribers === 1000 && f.complete && Number.isFinite(f.cpuUsPerDelivery)).map((f) => f.cpuUsPerDelivery),
  );
  for (const [rate, bar] of [
    [500, 0.5],
    [100, 1.0],
  ] as const) {
    const sb = at('switchboard', 1000, rate);
    const ws = at('ws', 1000, rate);
    const r = sb && ws ? sb.cpuUsPerDelivery / ws.cpuUsPerDelivery : NaN;
    const wsIncomplete = ws && !ws.complete && Number.isFinite(wsBest);
    const rBest = sb && wsIncomplete ? sb.cpuUsPerDelivery / wsBest : NaN;
    rows.push({
      target: `server CPU per delivery at 1,000 subscribers × ${rate} msgs/s ≤ ${bar} × raw ws`,
      measured:
        sb && ws
          ? `${x(r)} (Switchboard ${sb.cpuUsPerDelivery.toFixed(2)} µs, raw ws ${ws.cpuUsPerDelivery.toFixed(2)} µs` +
            (wsIncomplete
              ? `; raw ws delivered ${ws.deliveryPct.toFixed(1)} % at this rate — against its lowest cost in any complete run, ${wsBest.toFixed(2)} µs: ${x(rBest)}`
              : '') +
            ')'
          : 'not measured',
      met: Number.isFinite(r) ? r <= bar && (!wsIncomplete || rBest <= bar) : null,
    });
  }

  for (const subs of [1000, 10000]) {
    const sb = highestSustained(fan, 'switchboard', subs);
    const measuredAny = fan.some((f) => f.subscribers === subs);
    for (const other of ['ws', 'socketio'] as ServerKind[]) {
      if (!fan.some((f) => f.subscribers === subs && f.server === other)) continue;
      const o = highestSustained(fan, other, subs);
      const tested = Math.max(...fan.filter((f) => f.server === 'switchboard' && f.subscribers === subs).map((f) => f.rate));
      const ratioV = sb && o ? sb.deliveredPerSecond / o.deliveredPerSecond : NaN;
      const describe = (f: FanoutAgg | undefined, label: string) =>
        f ? `${label} ${n(f.rate)} msgs/s (${n(f.deliveredPerSecond)} deliveries/s, p99 ${f.p99.toFixed(1)} ms)` : `${label}: none of the tested rates`;
      rows.push({
        target: `highest sustained fan-out (100 % delivered, p99 < ${SUSTAINED_P99_MS} ms) at ${n(subs)} subscribers ≥ 2 × ${SERVER_LABELS[other]}`,
        measured:
          `${Number.isFinite(ratioV) ? x(ratioV) : sb && !o ? `${SERVER_LABELS[other]} sustained none of the rates` : '–'}: ${describe(sb, 'Switchboard')}; ${describe(o, SERVER_LABELS[other])}` +
          (sb && sb.rate === tested
            ? o && o.rate === tested
              ? ' — both sustained the highest rate tested: not decided by this run'
              : ' — Switchboard sustained the highest rate tested, so its ceiling is higher'
            : ''),
        // Both at the top of the ladder: the ratio says nothing; higher rates must be tested.
        met: !measuredAny ? null : sb && o ? (sb.rate === tested && o.rate === tested ? null : ratioV >= 2) : sb !== undefined,
      });
    }
  }

  // For reference (no target): the highest tested rate each server delivered completely,
  // whatever the latency — where each one stops keeping up at all.
  for (const subs of [1000, 10000]) {
    const best = (kind: ServerKind) => fan.filter((f) => f.server === kind && f.subscribers === subs && f.complete).sort((a, b) => b.rate - a.rate)[0];
    const kinds = (['switchboard', 'ws', 'socketio'] as ServerKind[]).filter((k) => fan.some((f) => f.server === k && f.subscribers === subs));
    if (kinds.length < 2) continue;
    rows.push({
      target: `(reference, no target) highest tested rate delivered completely at ${n(subs)} subscribers, any latency`,
      measured: kinds
        .map((k) => {
          const b = best(k);
          return b ? `${SERVER_LABELS[k]} ${n(b.rate)} msgs/s (${n(b.deliveredPerSecond)} deliveries/s, p99 ${n(b.p99)} ms)` : `${SERVER_LABELS[k]}: none`;
        })
        .join('; '),
      met: null,
    });
  }

  const sbc = con.find((c) => c.server === 'switchboard');
  for (const [other, bar] of [
    ['ws', 1.2],
    ['socketio', 0.5],
  ] as const) {
    const oc = con.find((c) => c.server === other);
    const r = sbc && oc ? sbc.rssPerConnKB / oc.rssPerConnKB : NaN;
    rows.push({
      target: `idle memory per connection ≤ ${bar} × ${SERVER_LABELS[other]}`,
      measured:
        sbc && oc ? `${x(r)} (Switchboard ${sbc.rssPerConnKB.toFixed(1)} KB RSS, ${SERVER_LABELS[other]} ${oc.rssPerConnKB.toFixed(1)} KB)` : 'not measured',
      met: Number.isFinite(r) ? r <= bar : null,
    });
  }

  const big = highestSustained(fan, 'switchboard', 10000);
  rows.push({
    target: `10,000 concurrent connections on one node, p99 < ${SUSTAINED_P99_MS} ms at the highest publication rate sustained`,
    measured: big
      ? `${n(big.rate)} msgs/s to 10,000 subscribers = ${n(big.deliveredPerSecond)} deliveries/s, p50 ${big.p50.toFixed(1)} ms, p99 ${big.p99.toFixed(1)} ms`
      : fan.some((f) => f.subscribers === 10000)
        ? 'no tested rate met the bar'
        : 'not measured',
    met: big ? true : fan.some((f) => f.subscribers === 10000) ? false : null,
  });

  rows.push(...workerRows(fan, con));

  rows.push({
    target: `reconnect storm of 10,000 clients${storm?.serverWorkers ? ` against serve --workers ${storm.serverWorkers}` : ''}: all recovered, missed = 0, duplicates = 0, time to full recovery stated`,
    measured: !storm
      ? 'not measured'
      : storm.error
        ? `no result (${storm.error})`
        : `${n(storm.recovered)} of ${n(storm.clients)} recovered (recovered: true), missed ${storm.missed}, duplicates ${storm.duplicates}, out of order ${storm.outOfOrder}; ` +
          `full recovery ${(storm.timeToFullRecoveryMs / 1000).toFixed(1)} s after the drop (${n(storm.reconnectsPerSecond)} reconnects/s), ${n(storm.recoveredPublications)} publications replayed from history`,
    met: !storm ? null : storm.clients >= 10000 && storm.ok && storm.recovered === storm.clients && storm.missed === 0 && storm.duplicates === 0,
  });
  return rows;
}
