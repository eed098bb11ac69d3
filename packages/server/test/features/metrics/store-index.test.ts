import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../../test/helpers/seeded.js';
import { canonicalLabels } from '../../../src/features/metrics/label-key.js';
import { StoreIndex } from '../../../src/features/metrics/store-index.js';

/**
 * The index of held stores by tenant, series and labels against a map keyed by the canonical
 * key (`canonicalLabels`, what the stores' own map uses): the same answers for every lookup,
 * over random label sets in any key order, subsets of keys, values that look like object
 * internals, and removals that must leave nothing behind.
 */
describe('StoreIndex', () => {
  const VALUES = ['a', 'b', '', '__proto__', 'constructor', 'x"y', 'ü', '0'];
  const KEYS = ['host', 'route', 'region', 'constructor', 'a'];

  const labelsOf = (r: () => number): Record<string, string> => {
    const chosen = KEYS.filter(() => r() < 0.5);
    // Any key order: the index sorts the keys as the canonical key does.
    chosen.sort(() => r() - 0.5);
    const out: Record<string, string> = {};
    for (const k of chosen) out[k] = VALUES[Math.floor(r() * VALUES.length)] as string;
    return out;
  };

  it('answers as a map keyed by tenant, series and canonical labels does, through sets and deletes', () => {
    const r = seeded(5);
    const index = new StoreIndex<number>();
    const reference = new Map<string, number>();
    const key = (t: string, s: string, l: Record<string, string>) => `${t}\0${s}\0${canonicalLabels(l)}`;
    for (let i = 0; i < 20_000; i++) {
      const tenant = r() < 0.5 ? 'acme' : 'other';
      const series = r() < 0.5 ? 'lat' : 'jobs';
      const labels = labelsOf(r);
      const op = r();
      if (op < 0.45) {
        index.set(tenant, series, labels, i);
        reference.set(key(tenant, series, labels), i);
      } else if (op < 0.7) {
        index.delete(tenant, series, labels);
        reference.delete(key(tenant, series, labels));
      } else {
        expect(index.get(tenant, series, labels)).toBe(reference.get(key(tenant, series, labels)));
      }
    }
  });

  it('finds nothing through inherited properties or for another tenant, and keeps no empty maps after deletes', () => {
    const index = new StoreIndex<string>();
    index.set('acme', 'lat', { host: 'a', route: '/' }, 'one');
    expect(index.get('acme', 'lat', { route: '/', host: 'a' })).toBe('one');
    expect(index.get('other', 'lat', { host: 'a', route: '/' })).toBeUndefined();
    expect(index.get('acme', 'lat', { host: 'a' })).toBeUndefined();
    expect(index.get('acme', 'lat', Object.create({ host: 'a', route: '/' }) as Record<string, string>)).toBeUndefined();
    index.set('acme', 'lat', {}, 'none');
    expect(index.get('acme', 'lat', {})).toBe('none');
    index.delete('acme', 'lat', { host: 'a', route: '/' });
    expect(index.get('acme', 'lat', { host: 'a', route: '/' })).toBeUndefined();
    expect(index.get('acme', 'lat', {})).toBe('none');
    index.delete('acme', 'lat', {});
    // Nothing left: the tenant's maps are gone with the last entry.
    expect(index.empty).toBe(true);
    index.set('acme', 'lat', { host: 'a' }, 'again');
    index.delete('acme', 'lat', { host: 'b' });
    index.delete('acme', 'jobs', { host: 'a' });
    expect(index.empty).toBe(false);
    expect(index.get('acme', 'lat', { host: 'a' })).toBe('again');
  });
});
