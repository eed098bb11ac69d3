/**
 * An exactly rounded sum that does not depend on the order of its terms (Shewchuk's partials,
 * as in Python's `math.fsum`). The running sum is a short list of non-overlapping float64s whose
 * exact total is the exact total of every term added; `exactSumValue` rounds it once, to the
 * nearest float64. So the sum of a bucket is the same whether its points arrived in order,
 * out of order, or as partial buckets merged from other nodes — which a plain `+=` cannot be.
 * The list stays short: one or two entries for ordinary data (at most ~40 in theory).
 * Overflow past ±1.8e308 gives ±Infinity.
 */

/** Adds `x` (finite) to the partials, in place while they fit; returns the partials to keep (a longer copy when they grew). */
export function addExact(partials: number[], x: number): number[] {
  let i = 0;
  let v = x;
  for (let j = 0; j < partials.length; j++) {
    let y = partials[j] as number;
    if (Math.abs(v) < Math.abs(y)) {
      const t = v;
      v = y;
      y = t;
    }
    const hi = v + y;
    const lo = y - (hi - v);
    if (lo !== 0) partials[i++] = lo;
    v = hi;
  }
  if (i < partials.length) {
    partials[i] = v;
    // Setting the length is a call into the runtime even when it does not change.
    if (partials.length !== i + 1) partials.length = i + 1;
    return partials;
  }
  // Exactly one longer: an array that grows by push keeps ~16 spare slots, and buckets are many.
  return partials.concat([v]);
}

/** Adds every term of another partials list (an exact merge); returns the partials to keep. */
export function mergeExact(partials: number[], other: readonly number[]): number[] {
  let out = partials;
  for (const x of other) out = addExact(out, x);
  return out;
}

/** The exact total, rounded once to the nearest float64 (ties to even). */
export function exactSumValue(partials: readonly number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n] as number;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  // Round half-even correctly when the rest of the partials push `lo` past a tie.
  if (n > 0 && ((lo < 0 && (partials[n - 1] as number) < 0) || (lo > 0 && (partials[n - 1] as number) > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}
