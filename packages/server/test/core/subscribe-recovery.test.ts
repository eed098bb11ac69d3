import { describe, expect, it } from 'vitest';
import { isRecovered } from '../../src/core/commands/subscribe.js';
import type { HistoryPage, StreamPublication } from '../../src/engine/broker.js';

const pubs = (from: number, to: number): StreamPublication[] => Array.from({ length: to - from + 1 }, (_, i) => ({ offset: from + i, time: 0, data: '1' }));

const page = (over: Partial<HistoryPage> = {}): HistoryPage => ({
  epoch: 'E',
  offset: 10,
  firstOffset: 1,
  publications: pubs(6, 10),
  ...over,
});

describe('isRecovered', () => {
  it('is true when the page holds exactly every publication after the position', () => {
    expect(isRecovered(page(), { offset: 5, epoch: 'E' }, 100)).toBe(true);
  });

  it('is true when nothing was missed, even with an empty page', () => {
    expect(isRecovered(page({ publications: [] }), { offset: 10, epoch: 'E' }, 100)).toBe(true);
    expect(isRecovered(page({ offset: 0, firstOffset: 1, publications: [] }), { offset: 0, epoch: 'E' }, 100)).toBe(true);
  });

  it('is true when nothing was missed although history has expired', () => {
    expect(isRecovered(page({ publications: [], firstOffset: 11 }), { offset: 10, epoch: 'E' }, 100)).toBe(true);
  });

  it('is false when the epoch changed', () => {
    expect(isRecovered(page(), { offset: 5, epoch: 'OLD' }, 100)).toBe(false);
    expect(isRecovered(page({ publications: [] }), { offset: 10, epoch: 'OLD' }, 100)).toBe(false);
  });

  it('is false when the position is ahead of the stream', () => {
    expect(isRecovered(page(), { offset: 11, epoch: 'E' }, 100)).toBe(false);
  });

  it('is false when more were missed than maxRecovery, and true at exactly maxRecovery', () => {
    expect(isRecovered(page(), { offset: 5, epoch: 'E' }, 4)).toBe(false);
    expect(isRecovered(page(), { offset: 5, epoch: 'E' }, 5)).toBe(true);
  });

  it('is false when the first missed publication was trimmed or expired', () => {
    expect(isRecovered(page({ firstOffset: 7, publications: pubs(7, 10) }), { offset: 5, epoch: 'E' }, 100)).toBe(false);
    expect(isRecovered(page({ firstOffset: 6, publications: pubs(6, 10) }), { offset: 5, epoch: 'E' }, 100)).toBe(true);
  });

  it('is false when the page holds fewer publications than were missed', () => {
    expect(isRecovered(page({ publications: pubs(6, 9) }), { offset: 5, epoch: 'E' }, 100)).toBe(false);
  });

  it('is false when the page does not start right after the position', () => {
    expect(isRecovered(page({ publications: pubs(7, 11) }), { offset: 5, epoch: 'E' }, 100)).toBe(false);
  });
});
