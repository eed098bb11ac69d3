import { describe, expect, it } from 'vitest';
import { newId, newOrderedId, randomHex } from '../../src/storage/ids.js';

describe('row ids', () => {
  it('orders ids made in one millisecond in the order they were made', () => {
    const ids = Array.from({ length: 2000 }, () => newOrderedId('evt', 1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('orders ids by time first, and never goes back when the clock does', () => {
    const a = newOrderedId('evt', 1_800_000_000_000);
    const b = newOrderedId('evt', 1_800_000_000_001);
    const behind = newOrderedId('evt', 1_799_999_999_000);
    expect([b, a, behind].sort()).toEqual([a, b, behind]);
  });

  it('keeps the id alphabet every collation orders alike', () => {
    expect(newOrderedId('evt')).toMatch(/^evt_[0-9a-z]+$/);
    expect(newId('msg')).toMatch(/^msg_[0-9a-z]+$/);
  });
});

describe('pooled random hex', () => {
  it('gives fresh bytes across pool refills: no repeats, every hex digit used', () => {
    // 3,000 draws of 8 bytes cross the 4 KiB pool about six times.
    const draws = Array.from({ length: 3000 }, () => randomHex(8));
    expect(new Set(draws).size).toBe(draws.length);
    for (const d of draws) expect(d).toMatch(/^[0-9a-f]{16}$/);
    const digits = new Set(draws.join(''));
    expect(digits.size).toBe(16);
  });

  it('draws odd sizes that straddle the end of the pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const d = randomHex(7);
      expect(d).toHaveLength(14);
      seen.add(d);
    }
    expect(seen.size).toBe(1000);
    expect(() => randomHex(65)).toThrow(RangeError);
  });

  it('keeps ids unique over many made in the same millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => newId('msg', 1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
