import { describe, expect, it } from 'vitest';
import { type HeldWindow, heldFrame } from '../../src/core/held-window.js';
import { CONTROL_LANE, type Priority, PriorityQueue } from '../../src/core/priority-queue.js';
import type { StreamPublication } from '../../src/engine/broker.js';

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

describe('PriorityQueue: held windows of conflated channels', () => {
  const pub = (offset: number, key: string, v: number, priority?: Priority): StreamPublication => ({
    offset,
    time: 0,
    data: JSON.stringify({ k: key, v }),
    ...(priority ? { priority } : {}),
  });
  const win = (after: number, pubs: StreamPublication[], skipped = 0): HeldWindow => ({
    channel: 'p:1',
    window: { epoch: 'e', after, offset: pubs.at(-1)?.offset ?? after, publications: pubs, skipped, path: ['k'] },
  });
  const push = (q: PriorityQueue, w: HeldWindow) => {
    const frame = heldFrame(w);
    return q.push('p', frame.bytes, frame.priority, w);
  };
  const frames = (q: PriorityQueue) =>
    q.take(ALL).map(
      (b) =>
        JSON.parse(b.toString()) as {
          after: number;
          offset: number;
          skipped: number;
          publications: Array<{ offset: number; data: { k: string; v: number } }>;
        },
    );

  it('joins windows that follow on into one frame, conflating only low publications across them', () => {
    const q = new PriorityQueue();
    expect(push(q, win(0, [pub(1, 'lo', 1, 'low'), pub(2, 'no', 1)]))).toBe(0);
    expect(push(q, win(2, [pub(3, 'lo', 2, 'low'), pub(4, 'no', 2)]))).toBe(1);
    expect(push(q, win(4, [pub(7, 'lo', 3, 'low'), pub(8, 'no', 3)], 2))).toBe(1);
    const [only, ...rest] = frames(q);
    expect(rest).toEqual([]);
    expect(only?.after).toBe(0);
    expect(only?.offset).toBe(8);
    expect(only?.skipped).toBe(4);
    expect(only?.publications.map((p) => `${p.data.k}${p.data.v}`)).toEqual(['no1', 'no2', 'lo3', 'no3']);
  });

  it('conflate extends to normal, then high publications; critical ones always stay', () => {
    const q = new PriorityQueue();
    push(q, win(0, [pub(1, 'c', 1, 'critical'), pub(2, 'h', 1, 'high'), pub(3, 'n', 1)]));
    push(q, win(3, [pub(4, 'c', 2, 'critical'), pub(5, 'h', 2, 'high'), pub(6, 'n', 2)]));
    expect(q.conflate(2)).toBe(1);
    expect(q.conflate(2)).toBe(0);
    expect(q.conflate(1)).toBe(1);
    push(q, win(6, [pub(7, 'h', 3, 'high')]));
    const [only] = frames(q);
    expect(only?.publications.map((p) => `${p.data.k}${p.data.v}`)).toEqual(['c1', 'c2', 'n2', 'h3']);
    expect(only?.skipped).toBe(3);
  });

  it('a joined window goes at its highest publication, and does not join across another frame or a gap', () => {
    const q = new PriorityQueue();
    push(q, win(0, [pub(1, 'a', 1, 'low')]));
    q.push('x', f('x-normal'));
    push(q, win(1, [pub(2, 'a', 2, 'critical')]));
    expect(q.holdsCritical).toBe(true);
    q.push('p', f('event'));
    push(q, win(2, [pub(3, 'a', 3, 'low')]));
    push(q, win(5, [pub(6, 'a', 6, 'low')]));
    expect(q.size).toBe(5);
    // the joined frame (critical) first, then the normal channel, then the rest of p in its order
    expect(texts(q.take(ALL)).map((t) => (t.startsWith('{') ? `p:${(JSON.parse(t) as { offset: number }).offset}` : t))).toEqual([
      'p:2',
      'x-normal',
      'event',
      'p:3',
      'p:6',
    ]);
  });
});
