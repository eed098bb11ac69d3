import { describe, expect, it, vi } from 'vitest';
import { Emitter } from '../src/emitter.js';

class Source extends Emitter<{ tick: number }> {
  fire(n: number): void {
    this.emit('tick', n);
  }
}

describe('Emitter', () => {
  it('calls listeners in order, supports once and off', () => {
    const source = new Source();
    const got: string[] = [];
    const off = source.on('tick', (n) => got.push(`a${n}`));
    source.once('tick', (n) => got.push(`b${n}`));
    source.fire(1);
    source.fire(2);
    off();
    source.fire(3);
    expect(got).toEqual(['a1', 'b1', 'a2']);
  });

  it('keeps calling other listeners when one throws, and re-throws the error in a microtask', () => {
    const scheduled: Array<() => void> = [];
    vi.stubGlobal('queueMicrotask', (task: () => void) => scheduled.push(task));
    try {
      const source = new Source();
      const got: number[] = [];
      source.on('tick', () => {
        throw new Error('listener bug');
      });
      source.on('tick', (n) => got.push(n));
      source.fire(7);
      expect(got).toEqual([7]);
      expect(scheduled).toHaveLength(1);
      expect(() => scheduled[0]!()).toThrow('listener bug');
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
