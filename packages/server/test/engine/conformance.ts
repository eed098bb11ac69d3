/**
 * Engine conformance suites: behaviour every Broker, PresenceStore, ControlBus and LimitStore
 * must show, whatever it runs on (memory today, a shared store across processes later).
 * Delivery may be asynchronous, so deliveries are awaited with `vi.waitFor`; absence of a
 * delivery is proven with a later sentinel on the same channel (delivery is in offset order).
 * Time-based behaviour uses short TTLs and polls the observable result, never a fixed sleep.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Broker, BrokerHandler, ChannelEvent, PublishOptions, StreamLoss, StreamPublication } from '../../src/engine/broker.js';
import type { ControlBus, ControlCommand } from '../../src/engine/control-bus.js';
import type { LimitStore } from '../../src/engine/limit-store.js';
import type { PresenceEntry, PresenceStore } from '../../src/engine/presence-store.js';

export type BrokerFactory = () => Promise<{ broker: Broker; cleanup(): Promise<void> }>;
export type PresenceFactory = () => Promise<{ presence: PresenceStore; cleanup(): Promise<void> }>;
export type ControlBusFactory = () => Promise<{ control: ControlBus; cleanup(): Promise<void> }>;
export type LimitStoreFactory = () => Promise<{ limits: LimitStore; cleanup(): Promise<void> }>;

const WAIT = { timeout: 5_000, interval: 5 };

/** Unique per run, so implementations backed by a shared server never see another run's keys. */
const RUN = randomBytes(4).toString('hex');
let seq = 0;
/** A fresh tenant-qualified channel key, shaped like the keys the node uses (`tenant|channel`). */
const freshChannel = (name = 'c') => `t${RUN}${++seq}|project:${name}`;
const freshTenant = () => `t${RUN}${++seq}`;

const opts = (over: Partial<PublishOptions> = {}): PublishOptions => ({
  historySize: 100,
  historyTtl: 60_000,
  idempotencyTtl: 60_000,
  ...over,
});

class Recorder implements BrokerHandler {
  readonly publications: Array<{ channel: string; pub: StreamPublication; epoch: string }> = [];
  readonly events: Array<{ channel: string; event: ChannelEvent }> = [];
  readonly losses: Array<{ channel: string; loss: StreamLoss }> = [];

  onPublication(channel: string, pub: StreamPublication, epoch: string): void {
    this.publications.push({ channel, pub, epoch });
  }

  onStreamLost(channel: string, loss: StreamLoss): void {
    this.losses.push({ channel, loss });
  }

  lossesOf(channel: string): StreamLoss[] {
    return this.losses.filter((l) => l.channel === channel).map((l) => l.loss);
  }

  onEvent(channel: string, event: ChannelEvent): void {
    this.events.push({ channel, event });
  }

  of(channel: string): StreamPublication[] {
    return this.publications.filter((p) => p.channel === channel).map((p) => p.pub);
  }

  offsetsOf(channel: string): number[] {
    return this.of(channel).map((p) => p.offset);
  }

  eventsOf(channel: string): ChannelEvent[] {
    return this.events.filter((e) => e.channel === channel).map((e) => e.event);
  }
}

/** Payload texts that must come back byte for byte. */
const HOSTILE_DATA = [
  '{"text":"héllo wörld — ✓"}',
  '"emoji 😀👩‍👩‍👧 and CJK 漢字"',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
  '{"line":"a\\nb","sep":"\u2028\u2029","nul":"\\u0000","lone":"\\ud800"}',
  '[1,2.5,-0,1e21,null,true,false]',
  '""',
  '{"spaces" :  [ 1 , 2 ] }',
];

export function describeBrokerConformance(name: string, make: BrokerFactory): void {
  describe(`Broker conformance: ${name}`, () => {
    let broker: Broker;
    let cleanup: () => Promise<void>;
    let rec: Recorder;

    beforeEach(async () => {
      ({ broker, cleanup } = await make());
      rec = new Recorder();
      broker.setHandler(rec);
    });
    afterEach(async () => {
      await cleanup();
    });

    /** Subscribe this node, publish `n` payloads `{"i":k}` sequentially, return the outcomes. */
    async function publishMany(channel: string, n: number, o: Partial<PublishOptions> = {}) {
      const outcomes = [];
      for (let k = 1; k <= n; k++) outcomes.push(await broker.publish(channel, `{"i":${k}}`, opts(o)));
      return outcomes;
    }

    async function delivered(channel: string, n: number): Promise<StreamPublication[]> {
      await vi.waitFor(() => expect(rec.of(channel)).toHaveLength(n), WAIT);
      return rec.of(channel);
    }

    it('is ready once created', () => {
      expect(broker.ready()).toBe(true);
    });

    describe('offsets and epochs', () => {
      it('starts offsets at 1 and increases them by one per publication', async () => {
        const ch = freshChannel();
        const outcomes = await publishMany(ch, 5);
        expect(outcomes.map((o) => o.offset)).toEqual([1, 2, 3, 4, 5]);
        expect(outcomes.every((o) => o.deduplicated === false)).toBe(true);
      });

      it('keeps offsets independent per channel, also for channels that share a prefix', async () => {
        const a = freshChannel('x');
        const b = `${a}:y`;
        const c = freshChannel('x');
        const order = [a, b, a, c, a, b];
        const offsets = [];
        for (const ch of order) offsets.push((await broker.publish(ch, '1', opts())).offset);
        expect(offsets).toEqual([1, 1, 2, 1, 3, 2]);
        expect((await broker.history(a, { limit: 10 })).offset).toBe(3);
        expect((await broker.history(b, { limit: 10 })).offset).toBe(2);
        expect((await broker.history(c, { limit: 10 })).offset).toBe(1);
      });

      it('reports a never-published channel at offset 0 with firstOffset 1 and no publications', async () => {
        const page = await broker.history(freshChannel(), { limit: 10 });
        expect(page.offset).toBe(0);
        expect(page.firstOffset).toBe(1);
        expect(page.publications).toEqual([]);
        expect(typeof page.epoch).toBe('string');
        expect(page.epoch.length).toBeGreaterThan(0);
      });

      it('keeps the epoch stable across publications and reports it in history', async () => {
        const ch = freshChannel();
        const outcomes = await publishMany(ch, 10);
        const epochs = new Set(outcomes.map((o) => o.epoch));
        expect(epochs.size).toBe(1);
        const page = await broker.history(ch, { limit: 100 });
        expect(page.epoch).toBe(outcomes[0]?.epoch);
        expect(page.offset).toBe(10);
      });

      it('gives the first publication the epoch a subscriber read from the still-empty channel', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        const before = await broker.history(ch, { limit: 0 });
        const outcome = await broker.publish(ch, '1', opts());
        expect(outcome.epoch).toBe(before.epoch);
        expect(outcome.offset).toBe(before.offset + 1);
      });

      it('removeHistory drops the publications and starts a new epoch at offset 1', async () => {
        const ch = freshChannel();
        const old = await publishMany(ch, 3);
        const oldEpoch = old[0]?.epoch as string;
        await broker.removeHistory(ch);
        const emptied = await broker.history(ch, { limit: 10 });
        expect(emptied.publications).toEqual([]);
        expect(emptied.epoch).not.toBe(oldEpoch);
        const next = await broker.publish(ch, '"new"', opts());
        expect(next.epoch).not.toBe(oldEpoch);
        expect(next.epoch).toBe(emptied.epoch);
        expect(next.offset).toBe(1);
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications.map((p) => [p.offset, p.data])).toEqual([[1, '"new"']]);
      });

      it('removeHistory of one channel leaves another channel untouched', async () => {
        const a = freshChannel();
        const b = freshChannel();
        await publishMany(a, 2);
        const bOut = await publishMany(b, 2);
        await broker.removeHistory(a);
        const page = await broker.history(b, { limit: 10 });
        expect(page.epoch).toBe(bOut[0]?.epoch);
        expect(page.offset).toBe(2);
        expect(page.publications.map((p) => p.data)).toEqual(['{"i":1}', '{"i":2}']);
      });

      it('removeHistory of a channel that never existed is harmless', async () => {
        const ch = freshChannel();
        await broker.removeHistory(ch);
        expect((await broker.publish(ch, '1', opts())).offset).toBe(1);
      });
    });

    describe('lost streams', () => {
      it('hands each publication on with the epoch of its stream', async () => {
        const channel = freshChannel();
        await broker.subscribe(channel);
        const [first] = await publishMany(channel, 2);
        await delivered(channel, 2);
        expect(rec.publications.filter((p) => p.channel === channel).map((p) => p.epoch)).toEqual([first?.epoch, first?.epoch]);
      });

      it('removeHistory under a subscribed channel reports the loss once, before the new epoch is delivered', async () => {
        const channel = freshChannel();
        await broker.subscribe(channel);
        const [before] = await publishMany(channel, 3);
        await delivered(channel, 3);
        await broker.removeHistory(channel);
        expect(rec.lossesOf(channel)).toEqual(['removed']);
        const after = await broker.publish(channel, '{"i":4}', opts());
        expect(after.epoch).not.toBe(before?.epoch);
        await vi.waitFor(() => expect(rec.of(channel)).toHaveLength(4), WAIT);
        const last = rec.publications.filter((p) => p.channel === channel).at(-1);
        expect(last).toMatchObject({ epoch: after.epoch, pub: { offset: 1 } });
        expect(rec.lossesOf(channel)).toEqual(['removed']);
      });

      it('removeHistory of a channel nobody here subscribes to reports no loss', async () => {
        const channel = freshChannel();
        await publishMany(channel, 2);
        await broker.removeHistory(channel);
        expect(rec.lossesOf(channel)).toEqual([]);
      });
    });

    describe('history', () => {
      it('returns publications oldest first with offset, data and time', async () => {
        const ch = freshChannel();
        const before = Date.now();
        await publishMany(ch, 3);
        const after = Date.now();
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications.map((p) => [p.offset, p.data])).toEqual([
          [1, '{"i":1}'],
          [2, '{"i":2}'],
          [3, '{"i":3}'],
        ]);
        for (const p of page.publications) {
          expect(p.time).toBeGreaterThanOrEqual(before - 1_000);
          expect(p.time).toBeLessThanOrEqual(after + 1_000);
        }
        expect(page.offset).toBe(3);
        expect(page.firstOffset).toBe(1);
      });

      it('limit returns the oldest publications', async () => {
        const ch = freshChannel();
        await publishMany(ch, 5);
        const page = await broker.history(ch, { limit: 2 });
        expect(page.publications.map((p) => p.offset)).toEqual([1, 2]);
        expect(page.offset).toBe(5);
      });

      it('reverse returns the newest publications, newest first', async () => {
        const ch = freshChannel();
        await publishMany(ch, 5);
        expect((await broker.history(ch, { limit: 2, reverse: true })).publications.map((p) => p.offset)).toEqual([5, 4]);
        expect((await broker.history(ch, { limit: 50, reverse: true })).publications.map((p) => p.offset)).toEqual([5, 4, 3, 2, 1]);
      });

      it('limit 0 returns only the stream position', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 3);
        const page = await broker.history(ch, { limit: 0 });
        expect(page.publications).toEqual([]);
        expect(page.offset).toBe(3);
        expect(page.epoch).toBe(out[0]?.epoch);
        expect(page.firstOffset).toBe(1);
      });

      it('since in the same epoch returns only later publications', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 5);
        const epoch = out[0]?.epoch as string;
        const page = await broker.history(ch, { since: { offset: 2, epoch }, limit: 10 });
        expect(page.publications.map((p) => p.offset)).toEqual([3, 4, 5]);
        expect(page.epoch).toBe(epoch);
        expect(page.offset).toBe(5);
      });

      it('since at the current offset returns nothing', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 3);
        const page = await broker.history(ch, { since: { offset: 3, epoch: out[0]?.epoch as string }, limit: 10 });
        expect(page.publications).toEqual([]);
        expect(page.offset).toBe(3);
      });

      it('since with reverse returns the newest of the later publications, newest first', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 6);
        const since = { offset: 2, epoch: out[0]?.epoch as string };
        expect((await broker.history(ch, { since, limit: 2, reverse: true })).publications.map((p) => p.offset)).toEqual([6, 5]);
        expect((await broker.history(ch, { since, limit: 10, reverse: true })).publications.map((p) => p.offset)).toEqual([6, 5, 4, 3]);
      });

      it('since with another epoch is ignored and returns the full page from the oldest', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 4);
        const page = await broker.history(ch, { since: { offset: 3, epoch: `not-${out[0]?.epoch}` }, limit: 10 });
        expect(page.publications.map((p) => p.offset)).toEqual([1, 2, 3, 4]);
        expect(page.epoch).toBe(out[0]?.epoch);
      });

      it('pages forward through the whole history with since and limit', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 10);
        const epoch = out[0]?.epoch as string;
        const pages: number[][] = [];
        let since = { offset: 0, epoch };
        for (let i = 0; i < 6; i++) {
          const page = await broker.history(ch, { since, limit: 3 });
          pages.push(page.publications.map((p) => p.offset));
          const last = page.publications.at(-1);
          if (!last) break;
          since = { offset: last.offset, epoch };
        }
        expect(pages).toEqual([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10], []]);
      });

      it('historySize trims the oldest publications and moves firstOffset', async () => {
        const ch = freshChannel();
        await publishMany(ch, 5, { historySize: 3 });
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications.map((p) => p.offset)).toEqual([3, 4, 5]);
        expect(page.publications.map((p) => p.data)).toEqual(['{"i":3}', '{"i":4}', '{"i":5}']);
        expect(page.firstOffset).toBe(3);
        expect(page.offset).toBe(5);
      });

      it('historySize 0 advances offsets and delivers, but keeps nothing', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        const out = await publishMany(ch, 3, { historySize: 0 });
        expect(out.map((o) => o.offset)).toEqual([1, 2, 3]);
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications).toEqual([]);
        expect(page.offset).toBe(3);
        expect(page.firstOffset).toBe(4);
        expect(page.epoch).toBe(out[0]?.epoch);
        expect((await delivered(ch, 3)).map((p) => p.offset)).toEqual([1, 2, 3]);
      });

      it('historyTtl expires publications while the offset and epoch stay', async () => {
        const ch = freshChannel();
        const out = await publishMany(ch, 3, { historyTtl: 50 });
        const epoch = out[0]?.epoch as string;
        await vi.waitFor(async () => {
          expect((await broker.history(ch, { limit: 10 })).publications).toEqual([]);
        }, WAIT);
        const page = await broker.history(ch, { limit: 10 });
        expect(page.offset).toBe(3);
        expect(page.epoch).toBe(epoch);
        expect(page.firstOffset).toBe(4);
        const next = await broker.publish(ch, '"after"', opts());
        expect(next).toEqual({ offset: 4, epoch, deduplicated: false });
        const after = await broker.history(ch, { limit: 10 });
        expect(after.publications.map((p) => [p.offset, p.data])).toEqual([[4, '"after"']]);
        expect(after.firstOffset).toBe(4);
      });
    });

    describe('history with limit 0 and reverse returns nothing', () => {
      it('limit 0 with reverse returns only the stream position', async () => {
        const ch = freshChannel();
        await publishMany(ch, 5);
        const page = await broker.history(ch, { limit: 0, reverse: true });
        expect(page.publications).toEqual([]);
        expect(page.offset).toBe(5);
      });
    });

    describe('idempotency', () => {
      it('a repeated key within the TTL returns the first offset and epoch with deduplicated true', async () => {
        const ch = freshChannel();
        const first = await broker.publish(ch, '"a"', opts({ idempotencyKey: 'k1' }));
        await broker.publish(ch, '"b"', opts());
        const again = await broker.publish(ch, '"a"', opts({ idempotencyKey: 'k1' }));
        expect(first).toEqual({ offset: 1, epoch: first.epoch, deduplicated: false });
        expect(again).toEqual({ offset: 1, epoch: first.epoch, deduplicated: true });
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications.map((p) => p.data)).toEqual(['"a"', '"b"']);
        expect(page.offset).toBe(2);
      });

      it('a deduplicated publish is not stored and not delivered to the handler again', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        await broker.publish(ch, '"once"', opts({ idempotencyKey: 'k' }));
        await broker.publish(ch, '"once"', opts({ idempotencyKey: 'k' }));
        await broker.publish(ch, '"once"', opts({ idempotencyKey: 'k' }));
        // The sentinel arrives after anything published before it, so its delivery proves absence.
        await broker.publish(ch, '"sentinel"', opts());
        const pubs = await delivered(ch, 2);
        expect(pubs.map((p) => [p.offset, p.data])).toEqual([
          [1, '"once"'],
          [2, '"sentinel"'],
        ]);
        expect((await broker.history(ch, { limit: 10 })).offset).toBe(2);
      });

      it('concurrent publishes with one key create exactly one publication', async () => {
        const ch = freshChannel();
        const outcomes = await Promise.all(Array.from({ length: 20 }, () => broker.publish(ch, '"same"', opts({ idempotencyKey: 'race' }))));
        expect(outcomes.filter((o) => !o.deduplicated)).toHaveLength(1);
        expect(new Set(outcomes.map((o) => o.offset))).toEqual(new Set([1]));
        expect(new Set(outcomes.map((o) => o.epoch)).size).toBe(1);
        expect((await broker.history(ch, { limit: 10 })).publications).toHaveLength(1);
      });

      it('after the idempotency TTL the same key publishes anew', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        const first = await broker.publish(ch, '"x"', opts({ idempotencyKey: 'k', idempotencyTtl: 50 }));
        // Each attempt inside the TTL is a deduplicated no-op; the first one after it publishes.
        let fresh = first;
        await vi.waitFor(async () => {
          fresh = await broker.publish(ch, '"x"', opts({ idempotencyKey: 'k', idempotencyTtl: 50 }));
          expect(fresh.deduplicated).toBe(false);
        }, WAIT);
        expect(fresh).toEqual({ offset: 2, epoch: first.epoch, deduplicated: false });
        expect((await delivered(ch, 2)).map((p) => p.offset)).toEqual([1, 2]);
        expect((await broker.history(ch, { limit: 10 })).publications.map((p) => p.offset)).toEqual([1, 2]);
      });

      it('keys are per channel', async () => {
        const a = freshChannel();
        const b = freshChannel();
        await broker.publish(a, '1', opts());
        await broker.publish(a, '2', opts({ idempotencyKey: 'shared' }));
        const inB = await broker.publish(b, '3', opts({ idempotencyKey: 'shared' }));
        expect(inB.offset).toBe(1);
        expect(inB.deduplicated).toBe(false);
        const againA = await broker.publish(a, '2', opts({ idempotencyKey: 'shared' }));
        expect(againA.offset).toBe(2);
        expect(againA.deduplicated).toBe(true);
      });

      it('different keys and publications without a key are never deduplicated', async () => {
        const ch = freshChannel();
        const outs = [
          await broker.publish(ch, '"same"', opts()),
          await broker.publish(ch, '"same"', opts()),
          await broker.publish(ch, '"same"', opts({ idempotencyKey: 'k1' })),
          await broker.publish(ch, '"same"', opts({ idempotencyKey: 'k2' })),
        ];
        expect(outs.map((o) => [o.offset, o.deduplicated])).toEqual([
          [1, false],
          [2, false],
          [3, false],
          [4, false],
        ]);
      });
    });

    describe('delivery', () => {
      it('delivers publications to the handler in offset order with the data text intact', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        for (const data of HOSTILE_DATA) await broker.publish(ch, data, opts());
        const pubs = await delivered(ch, HOSTILE_DATA.length);
        expect(pubs.map((p) => p.offset)).toEqual(HOSTILE_DATA.map((_, i) => i + 1));
        expect(pubs.map((p) => p.data)).toEqual(HOSTILE_DATA);
        const page = await broker.history(ch, { limit: 100 });
        expect(page.publications.map((p) => p.data)).toEqual(HOSTILE_DATA);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      });

      it('passes the channel key to the handler exactly as published', async () => {
        const ch = `${freshTenant()}|chat:room:with.dots_and-dashes`;
        await broker.subscribe(ch);
        await broker.publish(ch, '1', opts());
        await delivered(ch, 1);
        expect(rec.publications.map((p) => p.channel)).toEqual([ch]);
      });

      it('carries publisher info with the publication and leaves it out when not given', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        await broker.publish(ch, '1', opts({ info: { user: 'alice', client: 'c-1' } }));
        await broker.publish(ch, '2', opts());
        const [withInfo, without] = await delivered(ch, 2);
        expect(withInfo?.info).toEqual({ user: 'alice', client: 'c-1' });
        expect(without?.info).toBeUndefined();
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications[0]?.info).toEqual({ user: 'alice', client: 'c-1' });
        expect(page.publications[1]?.info).toBeUndefined();
      });

      it('carries the delivery priority with the publication (delivered and in history), with tags or without', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        await broker.publish(ch, '1', opts({ priority: 'critical' }));
        await broker.publish(ch, '2', opts({ priority: 'low', tags: { k: 'v' } }));
        await broker.publish(ch, '3', opts());
        const pubs = await delivered(ch, 3);
        expect(pubs.map((p) => p.priority)).toEqual(['critical', 'low', undefined]);
        expect(pubs.map((p) => p.data)).toEqual(['1', '2', '3']);
        expect(pubs[1]?.tags).toEqual({ k: 'v' });
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications.map((p) => p.priority)).toEqual(['critical', 'low', undefined]);
        const unstored = freshChannel();
        await broker.subscribe(unstored);
        await broker.publish(unstored, '4', opts({ priority: 'high', historySize: 0 }));
        expect((await delivered(unstored, 1))[0]?.priority).toBe('high');
      });

      it('publishEvent reaches the handler and is not stored', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        const join: ChannelEvent = { kind: 'join', user: 'alice', device: { client: 'c-1', status: 'online', state: { x: 'ü' }, since: 1_700_000_000_000 } };
        const signal: ChannelEvent = { kind: 'signal', from: { user: 'bob', client: 'c-2' }, key: 'typing', data: '{"__proto__":1}' };
        await broker.publishEvent(ch, join);
        await broker.publishEvent(ch, signal);
        await vi.waitFor(() => expect(rec.eventsOf(ch)).toHaveLength(2), WAIT);
        expect(rec.eventsOf(ch)).toEqual([join, signal]);
        const page = await broker.history(ch, { limit: 10 });
        expect(page.publications).toEqual([]);
        expect(page.offset).toBe(0);
        expect(rec.of(ch)).toEqual([]);
      });
    });

    describe('concurrency', () => {
      it('100 concurrent publishes to one channel get offsets 1..100 exactly once each', async () => {
        const ch = freshChannel();
        await broker.subscribe(ch);
        const outcomes = await Promise.all(Array.from({ length: 100 }, (_, k) => broker.publish(ch, `{"k":${k}}`, opts({ historySize: 200 }))));
        expect(outcomes.map((o) => o.offset).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
        expect(new Set(outcomes.map((o) => o.epoch)).size).toBe(1);
        // History holds each payload at the offset its publish returned.
        const page = await broker.history(ch, { limit: 200 });
        expect(page.publications.map((p) => p.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
        const byOffset = new Map(page.publications.map((p) => [p.offset, p.data]));
        for (const [k, o] of outcomes.entries()) expect(byOffset.get(o.offset)).toBe(`{"k":${k}}`);
        const pubs = await delivered(ch, 100);
        expect(pubs.map((p) => p.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      });

      it('concurrent publishes to two channels keep each channel in sequence', async () => {
        const a = freshChannel();
        const b = freshChannel();
        const outcomes = await Promise.all(Array.from({ length: 60 }, (_, k) => broker.publish(k % 2 === 0 ? a : b, '1', opts()).then((o) => ({ k, o }))));
        const offsetsOf = (even: boolean) =>
          outcomes
            .filter((x) => (x.k % 2 === 0) === even)
            .map((x) => x.o.offset)
            .sort((x, y) => x - y);
        expect(offsetsOf(true)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(offsetsOf(false)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      });
    });
  });
}

const entry = (client: string, user: string, over: Partial<PresenceEntry> = {}): PresenceEntry => ({
  client,
  user,
  status: 'online',
  state: null,
  since: 1_700_000_000_000,
  ...over,
});
const byClient = (entries: PresenceEntry[]) => [...entries].sort((x, y) => (x.client < y.client ? -1 : x.client > y.client ? 1 : 0));

export function describePresenceConformance(name: string, make: PresenceFactory): void {
  describe(`PresenceStore conformance: ${name}`, () => {
    let presence: PresenceStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ presence, cleanup } = await make());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('reports an unknown channel as empty', async () => {
      const ch = freshChannel();
      expect(await presence.get(ch)).toEqual([]);
      expect(await presence.counts(ch)).toEqual({ users: 0, connections: 0 });
    });

    it('set says new for a new connection and updated when it replaces an entry', async () => {
      const ch = freshChannel();
      expect(await presence.set(ch, entry('c1', 'alice'))).toBe('new');
      expect(await presence.set(ch, entry('c1', 'alice', { status: 'away', state: '{"mood":"🙂"}' }))).toBe('updated');
      expect(await presence.get(ch)).toEqual([entry('c1', 'alice', { status: 'away', state: '{"mood":"🙂"}' })]);
    });

    it('keeps every field of an entry intact', async () => {
      const ch = freshChannel();
      const e = entry('c-9', 'user@example.com', { status: 'idle', state: '{"__proto__":{"x":1},"t":"漢字\u2028"}', since: 1_234_567_890_123 });
      await presence.set(ch, e);
      expect(await presence.get(ch)).toEqual([e]);
    });

    it('counts connections and distinct users', async () => {
      const ch = freshChannel();
      await presence.set(ch, entry('c1', 'alice'));
      await presence.set(ch, entry('c2', 'alice'));
      await presence.set(ch, entry('c3', 'bob'));
      expect(await presence.counts(ch)).toEqual({ users: 2, connections: 3 });
      const entries = byClient(await presence.get(ch));
      expect(entries.map((e) => [e.client, e.user])).toEqual([
        ['c1', 'alice'],
        ['c2', 'alice'],
        ['c3', 'bob'],
      ]);
    });

    it('remove returns the removed entry, then undefined', async () => {
      const ch = freshChannel();
      const e = entry('c1', 'alice', { state: '{"a":1}' });
      await presence.set(ch, e);
      await presence.set(ch, entry('c2', 'bob'));
      expect(await presence.remove(ch, 'c1')).toEqual(e);
      expect(await presence.remove(ch, 'c1')).toBeUndefined();
      expect(await presence.get(ch)).toEqual([entry('c2', 'bob')]);
      expect(await presence.counts(ch)).toEqual({ users: 1, connections: 1 });
    });

    it('remove of an unknown channel or client returns undefined', async () => {
      const ch = freshChannel();
      expect(await presence.remove(ch, 'nobody')).toBeUndefined();
      await presence.set(ch, entry('c1', 'alice'));
      expect(await presence.remove(ch, 'c2')).toBeUndefined();
      expect(await presence.counts(ch)).toEqual({ users: 1, connections: 1 });
    });

    it('a channel whose last entry left is empty again and accepts new entries', async () => {
      const ch = freshChannel();
      await presence.set(ch, entry('c1', 'alice'));
      await presence.remove(ch, 'c1');
      expect(await presence.get(ch)).toEqual([]);
      expect(await presence.counts(ch)).toEqual({ users: 0, connections: 0 });
      expect(await presence.set(ch, entry('c1', 'alice'))).toBe('new');
    });

    it('keeps channels independent', async () => {
      const a = freshChannel();
      const b = `${a}:sub`;
      await presence.set(a, entry('c1', 'alice'));
      await presence.set(b, entry('c1', 'alice', { status: 'away' }));
      expect(await presence.set(b, entry('c2', 'bob'))).toBe('new');
      await presence.remove(a, 'c1');
      expect(await presence.get(a)).toEqual([]);
      expect(byClient(await presence.get(b))).toEqual([entry('c1', 'alice', { status: 'away' }), entry('c2', 'bob')]);
    });

    it('treats __proto__ and other Object.prototype names as plain client ids and users', async () => {
      const ch = freshChannel();
      for (const id of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
        expect(await presence.set(ch, entry(id, id))).toBe('new');
      }
      expect(await presence.set(ch, entry('__proto__', '__proto__', { status: 'away' }))).toBe('updated');
      expect(await presence.counts(ch)).toEqual({ users: 4, connections: 4 });
      expect(byClient(await presence.get(ch)).map((e) => [e.client, e.user, e.status])).toEqual([
        ['__proto__', '__proto__', 'away'],
        ['constructor', 'constructor', 'online'],
        ['hasOwnProperty', 'hasOwnProperty', 'online'],
        ['toString', 'toString', 'online'],
      ]);
      expect(await presence.remove(ch, '__proto__')).toEqual(entry('__proto__', '__proto__', { status: 'away' }));
      expect(await presence.counts(ch)).toEqual({ users: 3, connections: 3 });
      expect(({} as Record<string, unknown>)['status']).toBeUndefined();
    });

    it('with a cap, admits a new connection only while the channel has fewer entries', async () => {
      const ch = freshChannel();
      expect(await presence.set(ch, entry('c1', 'alice'), 2)).toBe('new');
      expect(await presence.set(ch, entry('c2', 'bob'), 2)).toBe('new');
      expect(await presence.set(ch, entry('c3', 'carol'), 2)).toBe('full');
      expect(byClient(await presence.get(ch)).map((e) => e.client)).toEqual(['c1', 'c2']);
      // A present connection is always updated, also at the cap.
      expect(await presence.set(ch, entry('c2', 'bob', { status: 'away' }), 2)).toBe('updated');
      expect(await presence.counts(ch)).toEqual({ users: 2, connections: 2 });
      // Without a cap, nothing is refused; a place that frees up is taken again.
      expect(await presence.set(ch, entry('c3', 'carol'))).toBe('new');
      expect(await presence.set(ch, entry('c4', 'dan'), 3)).toBe('full');
      await presence.remove(ch, 'c1');
      expect(await presence.set(ch, entry('c4', 'dan'), 3)).toBe('new');
      expect(byClient(await presence.get(ch)).map((e) => e.client)).toEqual(['c2', 'c3', 'c4']);
    });

    it('with a cap, concurrent sets admit exactly the cap and refuse the rest', async () => {
      const ch = freshChannel();
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => presence.set(ch, entry(`c${i}`, `u${i}`), 5)));
      expect(results.filter((r) => r === 'new')).toHaveLength(5);
      expect(results.filter((r) => r === 'full')).toHaveLength(7);
      expect(await presence.counts(ch)).toEqual({ users: 5, connections: 5 });
    });

    it('a cap of 0 refuses every new connection; a cap counts per channel', async () => {
      const a = freshChannel();
      const b = freshChannel();
      expect(await presence.set(a, entry('c1', 'alice'), 0)).toBe('full');
      expect(await presence.get(a)).toEqual([]);
      expect(await presence.set(a, entry('c1', 'alice'), 1)).toBe('new');
      expect(await presence.set(b, entry('c2', 'bob'), 1)).toBe('new');
    });

    it('stores a copy: mutating an entry before or after set does not change the store', async () => {
      const ch = freshChannel();
      const e = entry('c1', 'alice');
      await presence.set(ch, e);
      e.status = 'idle';
      const [got] = await presence.get(ch);
      expect(got?.status).toBe('online');
      (got as PresenceEntry).user = 'mallory';
      expect((await presence.get(ch))[0]?.user).toBe('alice');
    });
  });
}

export function describeControlBusConformance(name: string, make: ControlBusFactory): void {
  describe(`ControlBus conformance: ${name}`, () => {
    let control: ControlBus;
    let cleanup: () => Promise<void>;
    let received: ControlCommand[];

    beforeEach(async () => {
      ({ control, cleanup } = await make());
      received = [];
      control.setHandler((c) => received.push(c));
    });
    afterEach(async () => {
      await cleanup();
    });

    it('delivers a published command to the handler with every field intact', async () => {
      const tenant = freshTenant();
      const command: ControlCommand = { kind: 'disconnect', tenant, user: 'alice', code: 3502, reason: 'disconnected by server', client: 'c-1' };
      await control.publish(command);
      await vi.waitFor(() => expect(received).toHaveLength(1), WAIT);
      expect(received).toEqual([command]);
    });

    it('delivers commands of both kinds in publication order', async () => {
      const tenant = freshTenant();
      const commands: ControlCommand[] = [
        { kind: 'disconnect', tenant, user: 'alice', code: 3502, reason: 'r1' },
        { kind: 'unsubscribe', tenant, user: 'bob', channel: 'chat:lobby', code: 2000, reason: 'ünïcode ✓' },
        { kind: 'disconnect', tenant, user: '__proto__', code: 3008, reason: 'force reconnect' },
      ];
      for (const c of commands) await control.publish(c);
      await vi.waitFor(() => expect(received).toHaveLength(3), WAIT);
      expect(received).toEqual(commands);
    });

    it('delivers a run of commands in the order they were sent, sent with and without waiting', async () => {
      const tenant = freshTenant();
      const commands: ControlCommand[] = Array.from({ length: 200 }, (_, i) => ({ kind: 'disconnect', tenant, user: `u${i}`, code: 3008, reason: `r${i}` }));
      for (const c of commands.slice(0, 100)) await control.publish(c);
      await Promise.all(commands.slice(100).map((c) => control.publish(c)));
      await vi.waitFor(() => expect(received).toHaveLength(commands.length), WAIT);
      expect(received.map((c) => c.user)).toEqual(commands.map((c) => c.user));
    });

    it("answers a survey with this node's handler, and nothing for a kind without one", async () => {
      control.setSurveyHandler('echo', async (request) => ({ echoed: request }));
      const result = await control.survey('echo', { n: 1 });
      expect(result.answers[0]).toEqual({ echoed: { n: 1 } });
      expect(result.nodes).toBeGreaterThanOrEqual(1);
      expect((await control.survey(`none-${freshTenant()}`, null)).answers).toEqual([]);
    });

    it('lists no channels before a channel source is set, counting this node', async () => {
      expect(await control.channels(freshTenant(), '')).toEqual({ channels: [], nodes: 1, complete: true });
    });

    it('lists the channels its source gives for the tenant and prefix', async () => {
      const tenant = freshTenant();
      const asked: Array<[string, string]> = [];
      control.setChannelSource((t, prefix) => {
        asked.push([t, prefix]);
        return [
          { channel: 'project:1', subscribers: 2 },
          { channel: 'project:__proto__', subscribers: 1 },
        ].filter((c) => c.channel.startsWith(prefix));
      });
      const list = await control.channels(tenant, 'project:');
      expect([...list.channels].sort((a, b) => (a.channel < b.channel ? -1 : 1))).toEqual([
        { channel: 'project:1', subscribers: 2 },
        { channel: 'project:__proto__', subscribers: 1 },
      ]);
      expect(list).toMatchObject({ nodes: 1, complete: true });
      expect(asked).toEqual([[tenant, 'project:']]);
    });

    it('delivers to the handler set last', async () => {
      const second: ControlCommand[] = [];
      control.setHandler((c) => second.push(c));
      const command: ControlCommand = { kind: 'disconnect', tenant: freshTenant(), user: 'u', code: 3001, reason: 'shutdown' };
      await control.publish(command);
      await vi.waitFor(() => expect(second).toEqual([command]), WAIT);
      expect(received).toEqual([]);
    });
  });
}

export function describeLimitStoreConformance(name: string, make: LimitStoreFactory): void {
  describe(`LimitStore conformance: ${name}`, () => {
    let limits: LimitStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ limits, cleanup } = await make());
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('connections', () => {
      it('grants perUser slots to one user, then answers user', async () => {
        const t = freshTenant();
        const got = [];
        for (let i = 0; i < 3; i++) got.push(await limits.acquireConnection(t, 'alice', 2, 100));
        expect(got).toEqual(['ok', 'ok', 'user']);
      });

      it('grants perTenant slots over all users of a tenant, then answers tenant', async () => {
        const t = freshTenant();
        const got = [];
        for (const u of ['a', 'b', 'c', 'd']) got.push(await limits.acquireConnection(t, u, 10, 3));
        expect(got).toEqual(['ok', 'ok', 'ok', 'tenant']);
      });

      it('a refused acquire takes no slot', async () => {
        const t = freshTenant();
        expect(await limits.acquireConnection(t, 'a', 1, 2)).toBe('ok');
        expect(await limits.acquireConnection(t, 'a', 1, 2)).toBe('user');
        expect(await limits.acquireConnection(t, 'a', 1, 2)).toBe('user');
        // Had the refusals counted against the tenant, b would find it full.
        expect(await limits.acquireConnection(t, 'b', 1, 2)).toBe('ok');
      });

      it('release frees the user slot and the tenant slot', async () => {
        const t = freshTenant();
        expect(await limits.acquireConnection(t, 'a', 1, 1)).toBe('ok');
        expect(await limits.acquireConnection(t, 'a', 1, 1)).toBe('user');
        expect(await limits.acquireConnection(t, 'b', 1, 1)).toBe('tenant');
        await limits.releaseConnection(t, 'a');
        expect(await limits.acquireConnection(t, 'b', 1, 1)).toBe('ok');
        await limits.releaseConnection(t, 'b');
        expect(await limits.acquireConnection(t, 'a', 1, 1)).toBe('ok');
      });

      it('keeps tenants and the same user id in different tenants independent', async () => {
        const t1 = freshTenant();
        const t2 = freshTenant();
        expect(await limits.acquireConnection(t1, 'alice', 1, 1)).toBe('ok');
        expect(await limits.acquireConnection(t2, 'alice', 1, 1)).toBe('ok');
        expect(await limits.acquireConnection(t1, 'bob', 1, 1)).toBe('tenant');
        expect(await limits.acquireConnection(t2, 'alice', 1, 1)).toBe('user');
      });

      it('concurrent acquires never grant more than perUser slots', async () => {
        const t = freshTenant();
        const got = await Promise.all(Array.from({ length: 20 }, () => limits.acquireConnection(t, 'alice', 5, 100)));
        expect(got.filter((r) => r === 'ok')).toHaveLength(5);
        expect(got.filter((r) => r === 'user')).toHaveLength(15);
      });

      it('treats __proto__ as a plain tenant and user id', async () => {
        expect(await limits.acquireConnection('__proto__', '__proto__', 1, 1)).toBe('ok');
        expect(await limits.acquireConnection('__proto__', '__proto__', 1, 1)).toBe('user');
        expect(await limits.acquireConnection('__proto__', 'other', 1, 1)).toBe('tenant');
        await limits.releaseConnection('__proto__', '__proto__');
        expect(await limits.acquireConnection('__proto__', 'other', 1, 1)).toBe('ok');
        await limits.releaseConnection('__proto__', 'other');
      });
    });

    describe('releasing a slot that was never acquired frees nothing', () => {
      it('a stray release does not lower the tenant count', async () => {
        const t = freshTenant();
        expect(await limits.acquireConnection(t, 'a', 5, 1)).toBe('ok');
        await limits.releaseConnection(t, 'ghost');
        expect(await limits.acquireConnection(t, 'b', 5, 1)).toBe('tenant');
      });
    });

    describe('token buckets', () => {
      it('a new bucket allows burst takes, then refuses', async () => {
        const key = `pub|${freshTenant()}|alice`;
        const got = [];
        for (let i = 0; i < 4; i++) got.push(await limits.take(key, 1, 3));
        expect(got).toEqual([true, true, true, false]);
      });

      it('keeps buckets independent per key', async () => {
        const a = `ip|${freshTenant()}`;
        const b = `ip|${freshTenant()}`;
        expect(await limits.take(a, 1, 1)).toBe(true);
        expect(await limits.take(a, 1, 1)).toBe(false);
        expect(await limits.take(b, 1, 1)).toBe(true);
      });

      it('takes cost tokens at once and refuses without consuming when too few are left', async () => {
        const key = freshTenant();
        expect(await limits.take(key, 1, 5, 3)).toBe(true);
        expect(await limits.take(key, 1, 5, 3)).toBe(false);
        expect(await limits.take(key, 1, 5, 2)).toBe(true);
        expect(await limits.take(key, 1, 5, 1)).toBe(false);
      });

      it('refuses a cost larger than the burst', async () => {
        expect(await limits.take(freshTenant(), 1_000, 2, 3)).toBe(false);
      });

      it('says how long until a refused take would succeed, and the take succeeds once that time has passed', async () => {
        const key = freshTenant();
        // 2 tokens/s, burst 2: after two takes the next token is ~500 ms away.
        expect(await limits.takeOrWait(key, 2, 2)).toBe(0);
        expect(await limits.takeOrWait(key, 2, 2)).toBe(0);
        const wait = await limits.takeOrWait(key, 2, 2);
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(500);
        // A refused take consumes nothing: the next answer is no longer.
        expect(await limits.takeOrWait(key, 2, 2)).toBeLessThanOrEqual(wait);
        await vi.waitFor(async () => expect(await limits.takeOrWait(key, 2, 2)).toBe(0), WAIT);
      });

      it('refills over time', async () => {
        const key = freshTenant();
        // 5 tokens/s: one token back after ~200 ms. Refused attempts consume nothing.
        expect(await limits.take(key, 5, 1)).toBe(true);
        expect(await limits.take(key, 5, 1)).toBe(false);
        await vi.waitFor(async () => expect(await limits.take(key, 5, 1)).toBe(true), WAIT);
        expect(await limits.take(key, 5, 1)).toBe(false);
      });
    });
  });
}
