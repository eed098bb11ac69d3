/**
 * The targets of `serve --workers N` (issue 22), checked against one run: each
 * `switchboard-wN` against the single-process server (`switchboard`, which is what
 * `serve --workers 1` runs) measured in the same run.
 */
import type { ConnectAgg, FanoutAgg } from './report.js';
import type { TargetRow } from './targets.js';
import { type ServerVariant, serverWorkers, variantLabel } from './variants.js';

const x = (v: number) => (Number.isFinite(v) ? `×${v.toFixed(2)}` : '–');

/** p99 at 10,000 subscribers ≤ 0.6 × one worker; CPU per delivery and idle memory per connection within 10 %. */
export function workerRows(fan: FanoutAgg[], con: ConnectAgg[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const variants = [...new Set([...fan.map((f) => f.server), ...con.map((c) => c.server)])].filter((v) => serverWorkers(v) !== null) as ServerVariant[];
  for (const v of variants) {
    const label = variantLabel(v);
    const pairs = fan
      .filter((f) => f.server === v)
      .map((w) => ({ w, one: fan.find((f) => f.server === 'switchboard' && f.subscribers === w.subscribers && f.rate === w.rate) }))
      .filter((p): p is { w: FanoutAgg; one: FanoutAgg } => p.one !== undefined)
      .sort((a, b) => a.w.subscribers - b.w.subscribers || a.w.rate - b.w.rate);

    const big = pairs.filter((p) => p.w.subscribers === 10_000);
    rows.push({
      target: `${label}: p99 at 10,000 subscribers ≤ 0.6 × one worker (each rate)`,
      measured: big.length
        ? big
            .map(
              ({ w, one }) => `${w.rate}/s ${x(w.p99 / one.p99)} (${w.p99.toFixed(0)} vs ${one.p99.toFixed(0)} ms${w.complete ? '' : ', not all delivered'})`,
            )
            .join('; ')
        : 'not measured',
      met: big.length ? big.every(({ w, one }) => w.complete && w.p99 <= 0.6 * one.p99) : null,
    });

    rows.push({
      target: `${label}: server CPU per delivery (primary + workers) within 10 % of one worker (each scenario)`,
      measured: pairs.length
        ? pairs
            .map(
              ({ w, one }) =>
                `${w.subscribers.toLocaleString('en-US')}@${w.rate}/s ${x(w.cpuUsPerDelivery / one.cpuUsPerDelivery)} (${w.cpuUsPerDelivery.toFixed(2)} vs ${one.cpuUsPerDelivery.toFixed(2)} µs)`,
            )
            .join('; ')
        : 'not measured',
      met: pairs.length ? pairs.every(({ w, one }) => w.cpuUsPerDelivery <= 1.1 * one.cpuUsPerDelivery) : null,
    });

    const c = con.find((a) => a.server === v);
    const c1 = con.find((a) => a.server === 'switchboard');
    const subs10k = big[0];
    const memParts: string[] = [];
    if (c && c1)
      memParts.push(
        `idle ${c.target.toLocaleString('en-US')}: ${x(c.rssPerConnKB / c1.rssPerConnKB)} (${c.rssPerConnKB.toFixed(1)} vs ${c1.rssPerConnKB.toFixed(1)} KB RSS)`,
      );
    if (subs10k)
      memParts.push(
        `10,000 subscribed: ${x(subs10k.w.rssPerConnKB / subs10k.one.rssPerConnKB)} (${subs10k.w.rssPerConnKB.toFixed(1)} vs ${subs10k.one.rssPerConnKB.toFixed(1)} KB RSS)`,
      );
    rows.push({
      target: `${label}: idle memory per connection (RSS summed over the primary and workers) within 10 % of one worker`,
      measured: memParts.length ? memParts.join('; ') : 'not measured',
      met: c && c1 ? c.rssPerConnKB <= 1.1 * c1.rssPerConnKB : null,
    });
  }
  return rows;
}
