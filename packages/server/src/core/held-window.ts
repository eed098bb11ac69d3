import { PUBLICATION_PRIORITIES, type PublicationPriority } from '@switchboard/protocol';
import type { StreamPublication } from '../engine/broker.js';
import { conflationKey, pubsPush, type WindowContents } from './conflation.js';

/**
 * A conflated channel's `pubs` frame as a congested connection holds it: the window as this
 * subscriber got it (its filter applied), which the next window of the channel may still join.
 */
export interface HeldWindow {
  readonly channel: string;
  readonly window: WindowContents;
}

/** Rank of a publication: 0 critical … 3 low (absent: normal). */
const rankOfPub = (pub: StreamPublication): number => (pub.priority === undefined ? 2 : PUBLICATION_PRIORITIES.indexOf(pub.priority));

/** The first rank held windows conflate while congested: low only. */
export const CONFLATE_LOW = 3;
/** The last rank held windows may conflate, before channels are shed: high (critical never). */
export const CONFLATE_HIGH = 1;

/**
 * The publications of a held window conflated at `level`: each publication of rank `level`
 * or lower (3 low, 2 normal, 1 high; critical never) that a later one of its key follows is
 * dropped. Publications without a key stay, as in a window.
 */
export function conflateAt(w: WindowContents, level: number): WindowContents {
  const pubs = w.publications;
  const seen = new Set<string>();
  const keep = new Array<boolean>(pubs.length).fill(true);
  let dropped = 0;
  for (let i = pubs.length - 1; i >= 0; i--) {
    const pub = pubs[i] as StreamPublication;
    const key = conflationKey(pub.data, w.path);
    if (key === null) continue;
    if (seen.has(key) && rankOfPub(pub) >= Math.max(level, CONFLATE_HIGH)) {
      keep[i] = false;
      dropped++;
    }
    seen.add(key);
  }
  if (dropped === 0) return w;
  return { ...w, publications: pubs.filter((_, i) => keep[i]), skipped: w.skipped + dropped };
}

/** Whether window `b` continues window `a` (same epoch, `b` starts where `a` ends), so they may be one frame. */
export function continues(a: WindowContents, b: WindowContents): boolean {
  return a.epoch === b.epoch && b.after === a.offset;
}

/** Window `a` then window `b` (which `continues` it) as one range, conflated at `level`. */
export function mergeWindows(a: WindowContents, b: WindowContents, level: number): WindowContents {
  return conflateAt({ ...a, offset: b.offset, publications: [...a.publications, ...b.publications], skipped: a.skipped + b.skipped }, level);
}

/** The frame of a held window and the priority it goes at (its highest publication's). */
export function heldFrame(held: HeldWindow): { bytes: Buffer; priority: PublicationPriority | undefined } {
  let best: number = PUBLICATION_PRIORITIES.length;
  for (const pub of held.window.publications) best = Math.min(best, rankOfPub(pub));
  return { bytes: pubsPush(held.channel, held.window, held.window.publications), priority: PUBLICATION_PRIORITIES[best] as PublicationPriority | undefined };
}
