import { describe, expect, it } from 'vitest';
import { addExact, exactSumValue } from '../../../src/features/metrics/exact-sum.js';
import { exactSum, prng } from './reference.js';

describe('exact sum', () => {
  it('is the exactly rounded sum, whatever the order of the terms', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = prng(seed);
      const values = Array.from({ length: 1 + Math.floor(r() * 300) }, () => (r() < 0.5 ? -1 : 1) * r() * 10 ** Math.floor(r() * 40 - 20));
      if (seed % 5 === 0) values.push(1e16, 1, -1e16, 1);
      let forward: number[] = [];
      for (const v of values) forward = addExact(forward, v);
      let backward: number[] = [];
      for (const v of [...values].reverse()) backward = addExact(backward, v);
      expect(exactSumValue(forward)).toBe(exactSum(values));
      expect(exactSumValue(backward)).toBe(exactSum(values));
    }
    // Where += goes wrong: 1e16 + 1 + 1 - 1e16 is 2.
    let p: number[] = [];
    for (const v of [1e16, 1, 1, -1e16]) p = addExact(p, v);
    expect(exactSumValue(p)).toBe(2);
    expect(1e16 + 1 + 1 - 1e16).not.toBe(2);
  });
});
