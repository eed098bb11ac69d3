import { describe, expect, it } from 'vitest';
import { ByteWriter, MetricDecodeError } from '../../../src/features/metrics/bytes.js';
import { Sketch, SketchError } from '../../../src/features/metrics/sketch.js';
import { nearestRank, prng } from './reference.js';

const lognormal = (r: () => number) => 20 * Math.exp(2 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));

function sketchOf(values: readonly number[], options = {}): Sketch {
  const s = new Sketch(options);
  for (const v of values) s.add(v);
  return s;
}

describe('quantile sketch', () => {
  it('answers every nearest-rank quantile within its relative accuracy, and the first and last rank exactly', () => {
    let worst = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = prng(seed);
      const alpha = [0.01, 0.001, 0.05][seed % 3] as number;
      const values = Array.from({ length: 1 + Math.floor(r() * 3000) }, () => (seed % 2 ? lognormal(r) : (r() - 0.3) * 10 ** Math.floor(r() * 8)));
      const s = sketchOf(values, { relativeAccuracy: alpha, maxBins: 65_536 });
      const sorted = [...values].sort((a, b) => a - b);
      for (let q = 0; q <= 1; q += 0.01) {
        const exact = nearestRank(sorted, q);
        const error = Math.abs(s.quantile(q) - exact) / Math.abs(exact);
        expect(error, `seed ${seed} q ${q}`).toBeLessThanOrEqual(alpha * (1 + 1e-9));
        worst = Math.max(worst, error / alpha);
      }
      expect(s.quantile(0)).toBe(sorted[0]);
      expect(s.quantile(1)).toBe(sorted[sorted.length - 1]);
      expect([s.count, s.min, s.max]).toEqual([values.length, sorted[0], sorted[sorted.length - 1]]);
    }
    expect(worst).toBeGreaterThan(0.5); // the bound is approached, so the check can fail
  });

  it('keeps zero and negative values on their own side, and -0 as 0', () => {
    const s = sketchOf([-5, -5, 0, -0, 3, 100]);
    expect(s.quantile(0.5)).toBe(0);
    expect(s.quantile(0.2)).toBeCloseTo(-5, 0);
    expect(Object.is(s.quantile(0.5), 0)).toBe(true);
    expect(s.bins().map(([, c]) => c)).toEqual([2, 2, 1, 1]);
    expect(s.min).toBe(-5);
    expect(Object.is(sketchOf([-0]).min, 0)).toBe(true);
  });

  it('merges exactly: the merge of parts equals the sketch of the union, in any grouping', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = prng(seed);
      const values = Array.from({ length: Math.floor(r() * 500) }, () => (r() < 0.2 ? 0 : (r() < 0.5 ? -1 : 1) * lognormal(r)));
      const parts = [sketchOf([]), sketchOf([]), sketchOf([])];
      for (const v of values) (parts[Math.floor(r() * 3)] as Sketch).add(v);
      const left = (parts[0] as Sketch).clone();
      left.merge(parts[1] as Sketch);
      left.merge(parts[2] as Sketch);
      const right = (parts[2] as Sketch).clone();
      right.merge(parts[1] as Sketch);
      right.merge(parts[0] as Sketch);
      const whole = sketchOf(values);
      expect(left.equals(whole) && right.equals(whole), `seed ${seed}`).toBe(true);
      expect(left.bins()).toEqual(whole.bins());
    }
  });

  it('caps its bins by folding the lowest values, independently of order, so merges stay exact', () => {
    const r = prng(7);
    const values = Array.from({ length: 5000 }, () => 10 ** (r() * 30 - 15));
    const options = { maxBins: 64 };
    const whole = sketchOf(values, options);
    expect(whole.binCount).toBe(64);
    const reversed = sketchOf([...values].reverse(), options);
    const a = sketchOf(values.slice(0, 1234), options);
    a.merge(sketchOf(values.slice(1234), options));
    expect(reversed.equals(whole) && a.equals(whole)).toBe(true);
    // High quantiles keep the bound; the folded low end answers at most the lowest kept bin.
    const sorted = [...values].sort((x, y) => x - y);
    expect(Math.abs(whole.quantile(0.99) - nearestRank(sorted, 0.99)) / nearestRank(sorted, 0.99)).toBeLessThanOrEqual(0.01 * (1 + 1e-9));
    expect(whole.count).toBe(5000);
    expect(whole.min).toBe(sorted[0]);
  });

  it('refuses values, counts, quantiles and options out of their domain with a SketchError', () => {
    const s = new Sketch();
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(() => s.add(bad)).toThrow(SketchError);
    for (const bad of [0, -1, 1.5, 2 ** 53]) expect(() => s.add(1, bad)).toThrow(SketchError);
    expect(() => s.quantile(1.1)).toThrow(SketchError);
    expect(() => s.quantile(Number.NaN)).toThrow(SketchError);
    expect(() => new Sketch({ relativeAccuracy: 0 })).toThrow(SketchError);
    expect(() => new Sketch({ maxBins: 3 })).toThrow(SketchError);
    expect(() => s.merge(new Sketch({ relativeAccuracy: 0.02 }))).toThrow(expect.objectContaining({ reason: 'mismatch' }));
    expect(s.count).toBe(0);
    expect(s.quantile(0.5)).toBeNaN();
    s.add(4, 3);
    expect([s.count, s.quantile(0.5)]).toEqual([3, 4]);
  });

  it('round-trips through its binary form exactly, small sketches in a few bytes', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = prng(seed);
      const values = Array.from({ length: Math.floor(r() * 2000) }, () => (r() < 0.1 ? 0 : (r() < 0.3 ? -1 : 1) * lognormal(r)));
      const s = sketchOf(values, { relativeAccuracy: [0.01, 0.0001, 0.25][seed % 3] as number, maxBins: 100 });
      const bytes = s.encode();
      const back = Sketch.decode(bytes);
      expect(back.equals(s)).toBe(true);
      expect(back.encode()).toEqual(bytes);
      expect(back.quantile(0.95)).toBe(s.quantile(0.95));
    }
    expect(sketchOf([12.5]).encode().length).toBeLessThanOrEqual(40);
  });

  it('refuses garbage with a MetricDecodeError: every truncation, random bytes, flipped bytes, inconsistent bins', () => {
    const good = sketchOf([1, 2, 3, 400, -7, 0]).encode();
    for (let n = 0; n < good.length; n++) expect(() => Sketch.decode(good.subarray(0, n))).toThrow(MetricDecodeError);
    expect(() => Sketch.decode(new Uint8Array([...good, 0]))).toThrow(MetricDecodeError);
    expect(() => Sketch.decode('abc' as unknown as Uint8Array)).toThrow(MetricDecodeError);
    const r = prng(99);
    for (let i = 0; i < 2000; i++) {
      const bytes = i % 2 ? Uint8Array.from({ length: Math.floor(r() * 60) }, () => Math.floor(r() * 256)) : Uint8Array.from(good);
      if (i % 2 === 0) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      try {
        const s = Sketch.decode(bytes);
        // What decodes is a consistent sketch: it encodes back to the same bytes.
        expect(s.encode()).toEqual(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(MetricDecodeError);
      }
    }
    // Hand-made: bins out of order, and a max outside the bins.
    const forge = (keys: number[], min: number, max: number) => {
      const w = new ByteWriter();
      w.u8(1);
      w.f64(0.01);
      w.varint(2048);
      w.varint(keys.length);
      w.f64(min);
      w.f64(max);
      let previous = 0;
      for (const k of keys) {
        w.zigzag(k - previous);
        w.varint(1);
        previous = k;
      }
      return w.finish();
    };
    const one = sketchOf([1]).bins()[0]?.[0] as number;
    expect(Sketch.decode(forge([one], 1, 1)).count).toBe(1);
    expect(() => Sketch.decode(forge([one, one - 5], 1, 1))).toThrow(MetricDecodeError);
    expect(() => Sketch.decode(forge([one], 1, 1000))).toThrow(MetricDecodeError);
    expect(() => Sketch.decode(forge([one], 2, 1))).toThrow(MetricDecodeError);
  });
});
