import type { Held } from './ingest-types.js';

/**
 * The bookkeeping of one ingest batch in the stores: what its points checked so far would
 * change (`Plan`), and the stores its write touched (`Touched`). Stores already held carry the
 * batch's figures themselves, under the batch's mark (a number no other batch has), so a
 * batch spread over thousands of stores keeps no map of them.
 */

/** What the points of a batch checked so far would change: newest timestamps, new stores and label values. */
export interface Plan {
  now: number;
  /** This plan's mark on the stores held whose newest timestamp it moved (`Held.planned`). */
  mark: number;
  /** The newest timestamp of each store not held yet that the batch writes to. */
  newest: Map<string, number>;
  newStores: Set<string>;
  newValues: Map<string, Set<string>>;
  /** Stores the tenant would hold. */
  held: number;
  /** The store key of the point `#problemOf` last found fine, and its store if held. */
  key: string;
  found: Held | undefined;
}

/** A batch's plan before its first point: at `now`, under `mark`, for a tenant holding `held` stores. */
export function newPlan(now: number, mark: number, held: number): Plan {
  return { now, mark, newest: new Map(), newStores: new Set(), newValues: new Map(), held, key: '', found: undefined };
}

/** The newest timestamp of a store (`held`, or the new store of `key`) with the points of the plan's batch checked so far. */
export function newestIn(plan: Plan, key: string, held: Held | undefined): number {
  if (held === undefined) return plan.newest.get(key) ?? Number.NEGATIVE_INFINITY;
  return held.planned === plan.mark ? held.plannedNewest : held.store.newest;
}

/** Sets what `newestIn` answers for the store from now on in the plan. */
export function planNewest(plan: Plan, key: string, held: Held | undefined, ts: number): void {
  if (held === undefined) {
    plan.newest.set(key, ts);
    return;
  }
  held.planned = plan.mark;
  held.plannedNewest = ts;
}

/** The stores a write touches, each listed once (marked with the write's mark). */
export class Touched {
  readonly list: Held[] = [];

  constructor(readonly mark: number) {}

  add(held: Held): void {
    if (held.written === this.mark) return;
    held.written = this.mark;
    this.list.push(held);
  }
}
