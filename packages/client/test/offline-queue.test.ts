import { describe, expect, it } from 'vitest';
import { OfflineQueue } from '../src/offline-queue.js';

describe('OfflineQueue', () => {
  it('refuses new items once maxSize is reached', () => {
    const queue = new OfflineQueue<number>(2);
    expect(queue.push(1)).toBe(true);
    expect(queue.push(2)).toBe(true);
    expect(queue.push(3)).toBe(false);
    expect(queue.drain()).toEqual([1, 2]);
    expect(queue.size).toBe(0);
  });

  it('puts requeued items in front, in their order, even beyond the bound', () => {
    const queue = new OfflineQueue<string>(2);
    queue.push('c');
    queue.push('d');
    queue.requeue(['a', 'b']);
    expect(queue.size).toBe(4);
    expect(queue.push('e')).toBe(false);
    expect(queue.drain()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('tells onChange the new size after every change, and nothing when nothing changed', () => {
    const sizes: number[] = [];
    const queue = new OfflineQueue<string>(2, (size) => sizes.push(size));
    queue.push('a');
    queue.push('b');
    queue.push('refused');
    queue.requeue([]);
    queue.requeue(['x']);
    queue.drain();
    queue.drain();
    expect(sizes).toEqual([1, 2, 3, 0]);
  });
});
