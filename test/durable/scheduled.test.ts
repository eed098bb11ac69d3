import { ErrorCode } from '@switchboard/protocol';
import { defineFeature, ReplyError } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { type DurableServer, expectApiError, STORES, startDurableServer } from './helpers.js';

/**
 * Scheduled publications (POST /publish with publishAt or delaySeconds) on the job runner,
 * on both stores, with the server's clock moved by the test: nothing is due until the clock
 * says so, then one poll delivers it through the normal publish path, once.
 */

interface Scheduled {
  id: string;
  channel: string;
  data: unknown;
  publishAt: number;
  status: string;
  attempts: number;
  result?: { offset: number; epoch: string };
  error?: string;
}

/** A hook that refuses publications marked `flaky` once (temporary) and `refused` always (not temporary). */
const failing = () => {
  const seen = new Set<string>();
  return defineFeature({
    name: 'flaky',
    hooks: {
      beforePublish({ data }) {
        const text = String(data);
        if (text.includes('"refused"')) throw new ReplyError({ code: 400, message: 'refused by the app', temporary: false });
        if (text.includes('"flaky"') && !seen.has(text)) {
          seen.add(text);
          throw new ReplyError(ErrorCode.Unavailable, 'not this time');
        }
      },
    },
  });
};

describe.each(STORES)('scheduled publications on %s', (store) => {
  let s: DurableServer;
  const clock = new ManualClock();

  beforeAll(async () => {
    // A poll only when the test asks (and at start): the clock alone decides what is due.
    // The tests count the jobs each poll starts: no comment deadline check due every 10 s among them.
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h', backoff: '1s' },
      comments: { deadlineInterval: '0' },
      features: [failing()],
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  const schedule = async (body: Record<string, unknown>, key?: string) => {
    const res = await s.api('POST', '/publish', { body, ...(key ? { key } : {}) });
    expect(res.status, res.text).toBe(202);
    return res.body as unknown as Scheduled;
  };
  const get = async (id: string) => (await s.api('GET', `/scheduled/${id}`)).body as unknown as Scheduled;
  const history = async (channel: string) => {
    const res = await s.api('GET', `/channels/${channel}/history`);
    expect(res.status, res.text).toBe(200);
    return res.body['publications'] as Array<{ offset: number; data: unknown }>;
  };
  const settled = (id: string) => eventually(async () => !['pending', 'running'].includes((await get(id)).status), 5000, `${id} to finish`);

  it('delivers a publication scheduled with publishAt once, when the clock reaches it', async () => {
    const device = await s.device('ann');
    await device.call('subscribe', { channel: 'project:due' });
    const at = clock.now() + 60_000;
    const sch = await schedule({ channel: 'project:due', data: { n: 1 }, publishAt: new Date(at).toISOString() });
    expect(sch).toMatchObject({ channel: 'project:due', data: { n: 1 }, publishAt: at, status: 'pending', attempts: 0 });
    expect(sch.id).toMatch(/^pub_/);

    expect(await s.server.jobs.poll()).toBe(0);
    clock.advance(59_999);
    expect(await s.server.jobs.poll()).toBe(0);
    expect(await history('project:due')).toEqual([]);

    clock.advance(1);
    expect(await s.server.jobs.poll()).toBe(1);
    await settled(sch.id);
    const done = await get(sch.id);
    expect(done).toMatchObject({ status: 'delivered', attempts: 1, result: { offset: 1 } });
    const pub = await device.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:due', 5000);
    expect(pub['data']).toEqual({ n: 1 });

    clock.advance(60_000);
    expect(await s.server.jobs.poll()).toBe(0);
    expect((await history('project:due')).map((p) => p.data)).toEqual([{ n: 1 }]);
    device.close();
  });

  it('keeps the tags it was scheduled with: filters match them at delivery; bad tags are refused when scheduling', async () => {
    const device = await s.device('ann');
    await device.call('subscribe', { channel: 'project:tagged', filter: { tags: { level: 'warn' } } });
    const warn = await schedule({ channel: 'project:tagged', data: 'w', tags: { level: 'warn' }, delaySeconds: 5 });
    expect(warn.tags).toEqual({ level: 'warn' });
    const info = await schedule({ channel: 'project:tagged', data: 'i', tags: { level: 'info' }, delaySeconds: 5 });
    const tooLong = await s.api('POST', '/publish', { body: { channel: 'project:tagged', data: 'x', tags: { level: 'v'.repeat(65) }, delaySeconds: 5 } });
    expectApiError(tooLong, 422, ErrorCode.InvalidTags.code);
    clock.advance(5_000);
    await s.server.jobs.poll();
    await settled(warn.id);
    await settled(info.id);
    const pubs = (await history('project:tagged')) as Array<{ data: unknown; tags?: Record<string, string> }>;
    // Both are due at once: the runner may publish them in either order.
    expect(pubs.map((p) => [p.data, p.tags]).sort()).toEqual([
      ['i', { level: 'info' }],
      ['w', { level: 'warn' }],
    ]);
    const got = await device.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:tagged', 5000);
    expect([got['data'], got['tags']]).toEqual(['w', { level: 'warn' }]);
    device.close();
  });

  it('delaySeconds counts from now; Unix milliseconds are a publishAt too', async () => {
    const a = await schedule({ channel: 'project:delay', data: 'a', delaySeconds: 30 });
    expect(a.publishAt).toBe(clock.now() + 30_000);
    const b = await schedule({ channel: 'project:delay', data: 'b', publishAt: clock.now() + 10_000 });
    expect(b.publishAt).toBe(clock.now() + 10_000);
    clock.advance(30_000);
    expect(await s.server.jobs.poll()).toBe(2);
    await settled(a.id);
    await settled(b.id);
    // Claimed soonest first, but each is its own publish: both arrive, once each.
    expect((await history('project:delay')).map((p) => p.data).sort()).toEqual(['a', 'b']);
  });

  it('a repeated idempotencyKey answers the first scheduled publication and schedules nothing more', async () => {
    const first = await schedule({ channel: 'project:key', data: 1, delaySeconds: 5, idempotencyKey: 'k-1' });
    const again = await schedule({ channel: 'project:key', data: 2, delaySeconds: 9, idempotencyKey: 'k-1' });
    expect(again.id).toBe(first.id);
    expect(again.data).toBe(1);
    const other = await schedule({ channel: 'project:key', data: 1, delaySeconds: 5, idempotencyKey: 'k-1' }, s.tenantKeys['demo']);
    expect(other.id).not.toBe(first.id);
    clock.advance(5_000);
    await s.server.jobs.poll();
    await settled(first.id);
    expect((await history('project:key')).map((p) => p.data)).toEqual([1]);
  });

  it('lists the tenant’s scheduled publications soonest first, by page and status', async () => {
    const base = clock.now();
    const made = [];
    for (const d of [3, 1, 2]) made.push(await schedule({ channel: 'chat:list', data: d, publishAt: base + d * 1000 }, s.tenantKeys['other']));
    const page1 = await s.api('GET', '/scheduled?status=pending&limit=2', { key: s.tenantKeys['other'] });
    expect(page1.status, page1.text).toBe(200);
    const list1 = page1.body['scheduled'] as Scheduled[];
    expect(list1.map((x) => x.data)).toEqual([1, 2]);
    expect(page1.body['nextCursor']).toEqual(expect.any(String));
    const page2 = await s.api('GET', `/scheduled?status=pending&limit=2&cursor=${page1.body['nextCursor']}`, { key: s.tenantKeys['other'] });
    expect((page2.body['scheduled'] as Scheduled[]).map((x) => x.data)).toEqual([3]);
    expect(page2.body['nextCursor']).toBeNull();
    // Another tenant sees none of them, and its ids are not found.
    const mine = await s.api('GET', '/scheduled?status=pending');
    expect((mine.body['scheduled'] as Scheduled[]).some((x) => x.channel === 'chat:list')).toBe(false);
    const id = (made[0] as Scheduled).id;
    expectApiError(await s.api('GET', `/scheduled/${id}`), 404, ErrorCode.NotFound.code);
    expectApiError(await s.api('DELETE', `/scheduled/${id}`), 404, ErrorCode.NotFound.code);
    expect((await s.api('GET', `/scheduled/${id}`, { key: s.tenantKeys['other'] })).body['status']).toBe('pending');
    for (const m of made) await s.api('DELETE', `/scheduled/${m.id}`, { key: s.tenantKeys['other'] });
  });

  it('a cancelled publication is never delivered; cancelling again or after delivery is 409 (124)', async () => {
    const keep = await schedule({ channel: 'project:cancel', data: 'kept', delaySeconds: 10 });
    const drop = await schedule({ channel: 'project:cancel', data: 'dropped', delaySeconds: 10 });
    const cancelled = await s.api('DELETE', `/scheduled/${drop.id}`);
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body['status']).toBe('cancelled');
    expectApiError(await s.api('DELETE', `/scheduled/${drop.id}`), 409, ErrorCode.NotPending.code, /cancelled/);
    clock.advance(10_000);
    await s.server.jobs.poll();
    await settled(keep.id);
    expect((await history('project:cancel')).map((p) => p.data)).toEqual(['kept']);
    expectApiError(await s.api('DELETE', `/scheduled/${keep.id}`), 409, ErrorCode.NotPending.code, /delivered/);
    expectApiError(await s.api('GET', '/scheduled/pub_nosuch'), 404, ErrorCode.NotFound.code);
    const list = await s.api('GET', '/scheduled?status=cancelled');
    expect((list.body['scheduled'] as Scheduled[]).map((x) => x.id)).toContain(drop.id);
  });

  it('a temporary refusal is retried after a backoff and delivered once; a permanent one fails the publication', async () => {
    const flaky = await schedule({ channel: 'project:retry', data: 'flaky', delaySeconds: 1 });
    const refused = await schedule({ channel: 'project:retry', data: 'refused', delaySeconds: 1 });
    clock.advance(1_000);
    await s.server.jobs.poll();
    await eventually(async () => (await get(flaky.id)).error !== undefined, 5000, 'the first attempt to fail');
    await settled(refused.id);
    expect(await get(refused.id)).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/refused by the app/) });
    expect(await get(flaky.id)).toMatchObject({ status: 'pending', attempts: 1, error: expect.stringMatching(/not this time/) });
    // The backoff (1 s ±20 %) is on the same clock.
    clock.advance(1_200);
    expect(await s.server.jobs.poll()).toBe(1);
    await settled(flaky.id);
    expect(await get(flaky.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    expect((await history('project:retry')).map((p) => p.data)).toEqual(['flaky']);
  });
});
