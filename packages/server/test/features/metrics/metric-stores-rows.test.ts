import { ErrorCode } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { metricsConfig } from '../../../src/features/metrics/config.js';
import { canonicalLabels, labelSetKey, NO_LABELS } from '../../../src/features/metrics/label-key.js';
import { MetricStores, type PointInput, storeKey } from '../../../src/features/metrics/metric-stores.js';

/** The row path of the stores: label keys built per row, the keys check hands to write, the changes only followed stores list. */
const T0 = 1_700_000_000_000;
const config = metricsConfig.parse({
  series: { lat: { kind: 'distribution', labels: ['host', 'route'] } },
  maxSeries: 6,
  maxLabelValues: 3,
});
const reference = (labels: Record<string, string>): string =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );

describe('metric stores, rows', () => {
  it('builds the same canonical key as JSON of the sorted pairs, in any key order and with characters JSON escapes', () => {
    const sets: Array<Record<string, string>> = [
      {},
      { host: 'a' },
      { route: '/x', host: 'h1' },
      { host: 'h1', route: '/x' },
      { '10': 'a', '2': 'b', host: 'c' },
      { route: 'quote " back \\ nl \n', host: 'é \u2028 \u0000' },
    ];
    for (const s of sets) {
      expect(canonicalLabels(s)).toBe(reference(s));
      expect(labelSetKey({ ...s })).toBe(reference(s));
    }
    expect(labelSetKey(NO_LABELS)).toBe('[]');
    expect(canonicalLabels({ route: '/x', host: 'h1' })).toBe(canonicalLabels({ host: 'h1', route: '/x' }));
  });

  it('writes rows of one label set in separate objects and key orders into one store, and keeps every limit of a row', () => {
    const now = { t: T0 };
    const stores = new MetricStores(config, { now: () => now.t });
    const rows: PointInput[] = [
      { series: 'lat', labels: { host: 'a', route: '/' }, ts: T0, value: 1 },
      { series: 'lat', labels: { route: '/', host: 'a' }, ts: T0, value: 2 },
      { series: 'lat', labels: NO_LABELS, ts: T0, value: 3 },
      { series: 'lat', labels: NO_LABELS, ts: T0, value: 4 },
      { series: 'lat', labels: { host: 'b', route: '/' }, ts: T0, value: 5 },
    ];
    const verdict = stores.check('acme', rows);
    expect(verdict.first).toBeNull();
    expect(verdict.keys).toEqual([
      storeKey('acme', 'lat', { host: 'a', route: '/' }),
      storeKey('acme', 'lat', { host: 'a', route: '/' }),
      storeKey('acme', 'lat', {}),
      storeKey('acme', 'lat', {}),
      storeKey('acme', 'lat', { host: 'b', route: '/' }),
    ]);
    expect(stores.write('acme', rows, verdict)).toBe(5);
    expect(stores.size).toBe(3);
    const read = (labels: Record<string, string>) => stores.read('acme', 'lat', labels, '1s', T0, T0 + 1000, ['sum']);
    expect(read({ host: 'a', route: '/' })).toMatchObject({ count: [2], stats: { sum: [3] } });
    expect(read({})).toMatchObject({ count: [2], stats: { sum: [7] } });
    // Each row of a batch counts toward the series cap and the label values cap, and an
    // undeclared label or a bad value is found in whichever row holds it.
    const more = (host: string, extra: Partial<PointInput> = {}): PointInput => ({ series: 'lat', labels: { host }, ts: T0, value: 1, ...extra });
    const values = stores.check('acme', [more('c'), more('d')]);
    expect(values.problems.map((p) => [p.index, p.code])).toEqual([[1, ErrorCode.LabelValueLimit.code]]);
    const two = (host: string, route: string): PointInput => ({ series: 'lat', labels: { host, route }, ts: T0, value: 1 });
    const capped = stores.check('acme', [more('a'), more('b'), two('a', '/x'), two('a', '/x'), two('b', '/x')]);
    expect(capped.problems.map((p) => [p.index, p.code])).toEqual([[4, ErrorCode.SeriesLimit.code]]);
    const bad = stores.check('acme', [more('a', { value: 'x' }), { series: 'lat', labels: { nope: '1' }, ts: T0, value: 1 }]);
    expect(bad.problems.map((p) => [p.index, p.code])).toEqual([
      [0, ErrorCode.InvalidMetricValue.code],
      [1, ErrorCode.UnknownLabel.code],
    ]);
  });

  it('lists the changed buckets to a listener only for the stores it wants, and forgets the others without sending them later', () => {
    const now = { t: T0 };
    const stores = new MetricStores(config, { now: () => now.t });
    const wanted = storeKey('acme', 'lat', { host: 'a' });
    const seen: Array<[string, number[] | undefined]> = [];
    let want = (key: string) => key === wanted;
    stores.onChange(
      (key, changed) => seen.push([key, changed.get(1000) as number[] | undefined]),
      (key) => want(key),
    );
    const row = (host: string, ts: number): PointInput => ({ series: 'lat', labels: { host }, ts, value: 1 });
    const first = [row('a', T0), row('b', T0)];
    stores.write('acme', first, stores.check('acme', first));
    expect(seen).toEqual([[wanted, [T0]]]);
    // The store not followed had its changes cleared: once followed, it lists only what changes next.
    want = () => true;
    const next = [row('b', T0 + 1000)];
    stores.write('acme', next, stores.check('acme', next));
    expect(seen[1]).toEqual([storeKey('acme', 'lat', { host: 'b' }), [T0 + 1000]]);
  });
});
