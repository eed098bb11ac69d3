import { describe, expect, it } from 'vitest';
import { CONTROL_LANE, type Priority, PriorityQueue } from '../../src/core/priority-queue.js';

const f = (text: string): Buffer => Buffer.from(text);
const texts = (frames: Buffer[]): string[] => frames.map((b) => b.toString());
const ALL = Number.POSITIVE_INFINITY;

describe('PriorityQueue', () => {
  it('sends control frames first, then critical, high, normal, low channels, each in its order', () => {
    const q = new PriorityQueue();
    q.push('low', f('l1'), 'low');
    q.push('norm', f('n1'));
    q.push('crit', f('c1'), 'critical');
    q.push('high', f('h1'), 'high');
    q.push(CONTROL_LANE, f('reply1'));
    q.push('low', f('l2'), 'low');
    q.push('crit', f('c2'), 'critical');
    q.push(CONTROL_LANE, f('reply2'));
    expect(q.size).toBe(8);
    expect(texts(q.take(ALL))).toEqual(['reply1', 'reply2', 'c1', 'c2', 'h1', 'n1', 'l1', 'l2']);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('promotes a channel to its highest pending frame, keeps its order, and demotes it once that frame is out', () => {
    const q = new PriorityQueue();
    q.push('a', f('a1'), 'low');
    q.push('b', f('b1'), 'normal');
    q.push('a', f('a2'), 'critical');
    q.push('a', f('a3'), 'low');
    // a1 goes before a2 (the channel's order), both before b1; a3 (low) after b1 (normal)
    expect(texts(q.take(ALL))).toEqual(['a1', 'a2', 'b1', 'a3']);
  });

  it("sends critical frames in the order queued: a promoted channel does not carry its low frame past another channel's earlier critical one", () => {
    const q = new PriorityQueue();
    q.push('a', f('a-crit-1'), 'critical');
    q.push('b', f('b-crit-2'), 'critical');
    q.push('a', f('a-low-3'), 'low');
    q.push('a', f('a-crit-4'), 'critical');
    q.push('c', f('c-low-5'), 'low');
    expect(texts(q.take(ALL))).toEqual(['a-crit-1', 'b-crit-2', 'a-low-3', 'a-crit-4', 'c-low-5']);
  });

  it('never lets a frame overtake an earlier frame of its channel, whatever the priorities (seeded mix)', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const prios: Priority[] = ['critical', 'high', 'normal', 'low'];
    const q = new PriorityQueue();
    const pushed: Array<{ ch: string; n: number; p: Priority }> = [];
    const next = new Map<string, number>();
    const out: string[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) {
        const ch = `ch${rand(10)}`;
        const n = (next.get(ch) ?? 0) + 1;
        next.set(ch, n);
        const p = prios[rand(4)] as Priority;
        pushed.push({ ch, n, p });
        q.push(ch, f(`${ch}/${n}/${p}`), p);
      }
      out.push(...texts(q.take(200)));
    }
    out.push(...texts(q.take(ALL)));
    expect(out.length).toBe(pushed.length);

    const last = new Map<string, number>();
    for (const t of out) {
      const [ch, n] = t.split('/') as [string, string];
      expect(Number(n)).toBe((last.get(ch) ?? 0) + 1);
      last.set(ch, Number(n));
    }
  });

  it('held together, every critical frame leaves before any low frame queued after it, whatever the budget (seeded mix)', () => {
    let seed = 11;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const prios: Priority[] = ['critical', 'high', 'normal', 'low'];
    for (const budget of [1, 50, 500, ALL]) {
      const q = new PriorityQueue();
      const pushed: Array<{ name: string; p: Priority }> = [];
      for (let i = 0; i < 400; i++) {
        const p = prios[rand(4)] as Priority;
        const name = `ch${rand(10)}/${i}/${p}`;
        pushed.push({ name, p });
        q.push(name.split('/')[0] as string, f(name), p);
      }
      const out: string[] = [];
      while (q.size > 0) out.push(...texts(q.take(budget)));
      const at = new Map(out.map((t, i) => [t, i]));
      let pairs = 0;
      pushed.forEach((c, i) => {
        if (c.p !== 'critical') return;
        for (const l of pushed.slice(i + 1)) {
          if (l.p !== 'low') continue;
          expect(at.get(c.name) as number).toBeLessThan(at.get(l.name) as number);
          pairs++;
        }
      });
      expect(pairs).toBeGreaterThan(1000);
    }
  });

  it('takes at least one frame and stops at the budget', () => {
    const q = new PriorityQueue();
    q.push('a', f('aaaa'));
    q.push('a', f('bbbb'));
    q.push('a', f('cccc'));
    expect(texts(q.take(1))).toEqual(['aaaa']);
    expect(texts(q.take(5))).toEqual(['bbbb', 'cccc']);
    expect(q.take(5)).toEqual([]);
  });

  it('sheds whole channels without a critical frame, lowest first, and keeps control and critical frames', () => {
    const q = new PriorityQueue();
    q.push(CONTROL_LANE, f('r'.repeat(10)));
    q.push('crit', f('c'.repeat(10)), 'critical');
    q.push('mixed', f('m'.repeat(10)), 'low');
    q.push('mixed', f('M'.repeat(10)), 'critical');
    q.push('high', f('h'.repeat(10)), 'high');
    q.push('low', f('l'.repeat(10)), 'low');
    q.push('norm', f('n'.repeat(10)), 'normal');
    expect(q.bytes).toBe(70);
    expect(q.criticalBytes).toBe(30);
    expect(q.holdsCritical).toBe(true);
    expect(q.shed(50)).toEqual(['low', 'norm']);
    expect(q.bytes).toBe(50);
    expect(q.shed(0)).toEqual(['high']);
    // what cannot be shed stays
    expect(q.bytes).toBe(40);
    expect(texts(q.take(ALL))).toEqual(['r'.repeat(10), 'c'.repeat(10), 'm'.repeat(10), 'M'.repeat(10)]);
  });

  it('drops one lane on request and clears', () => {
    const q = new PriorityQueue();
    q.push('a', f('a1'), 'high');
    q.push('b', f('b1'), 'low');
    expect(q.holdsCritical).toBe(false);
    q.drop('a');
    expect(q.size).toBe(1);
    expect(texts(q.take(ALL))).toEqual(['b1']);
    q.push('a', f('a2'));
    q.clear();
    expect(q.size).toBe(0);
    expect(q.take(ALL)).toEqual([]);
  });
});
