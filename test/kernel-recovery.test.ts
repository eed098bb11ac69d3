import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const pubsOf = (c: RawClient, channel: string) => c.pushes('pub', channel).map((f) => f['offset'] as number);

describe('recovery and idempotency', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ namespaces: { project: { historySize: 50 }, chat: { historySize: 5 }, nohist: { historySize: 0 } } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('recovers missed publications exactly once and in order after a forced disconnect while publications continue', async () => {
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub' }));
    let sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    const first = await sub.call('subscribe', { channel: 'project:r1' });
    const epoch = first.result?.['epoch'] as string;
    for (let i = 0; i < 5; i++) await pub.call('publish', { channel: 'project:r1', data: { i } });
    await sub.until(() => pubsOf(sub, 'project:r1').length === 5, 5000, '5 pubs');
    const last = Math.max(...pubsOf(sub, 'project:r1'));
    sub.terminate();
    // Publications continue while the reader is away, and during its resubscribe.
    for (let i = 5; i < 12; i++) await pub.call('publish', { channel: 'project:r1', data: { i } });
    sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    const resubId = sub.send('subscribe', { channel: 'project:r1', recover: { offset: last, epoch } });
    for (let i = 12; i < 15; i++) pub.send('publish', { channel: 'project:r1', data: { i } });
    const reply = await sub.waitFor((f) => f.id === resubId);
    expect(reply.result).toMatchObject({ recovered: true, epoch });
    const recovered = (reply.result?.['publications'] as Array<{ offset: number; data: { i: number } }>).map((p) => p.offset);
    expect(recovered[0]).toBe(last + 1);
    await sub.until(() => recovered.length + pubsOf(sub, 'project:r1').length >= 10, 5000, 'live pubs');
    const all = [...recovered, ...pubsOf(sub, 'project:r1')];
    expect(all).toEqual(Array.from({ length: 10 }, (_, k) => last + 1 + k));
    // The reply precedes the live publications that follow it.
    const replyIndex = sub.frames.indexOf(reply);
    for (const f of sub.pushes('pub', 'project:r1')) expect(sub.frames.indexOf(f)).toBeGreaterThan(replyIndex);
    pub.close();
    sub.close();
  });

  it('says recovered: false when the gap is beyond the history window', async () => {
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub2' }));
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'reader2' }));
    const first = await sub.call('subscribe', { channel: 'chat:small' });
    const epoch = first.result?.['epoch'] as string;
    await sub.call('unsubscribe', { channel: 'chat:small' });
    for (let i = 0; i < 8; i++) await pub.call('publish', { channel: 'chat:small', data: { i } });
    const reply = await sub.call('subscribe', { channel: 'chat:small', recover: { offset: 0, epoch } });
    expect(reply.result).toMatchObject({ recovered: false, offset: 8, epoch });
    expect(reply.result?.['publications']).toEqual([]);
    pub.close();
    sub.close();
  });

  it('says recovered: false after an epoch change', async () => {
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'reader3' }));
    const reply = await sub.call('subscribe', { channel: 'project:e1', recover: { offset: 0, epoch: 'not-the-epoch' } });
    expect(reply.result).toMatchObject({ recovered: false });
    sub.close();
  });

  it('says recovered: false in a namespace without history', async () => {
    const s2 = await startTestServer({ namespaces: { nohist: { historySize: 0 } } });
    const sub = await RawClient.connect(s2.url, await s2.token({ sub: 'r', caps: { 'nohist:*': ['subscribe'] } }));
    const first = await sub.call('subscribe', { channel: 'nohist:x' });
    expect(first.result).toMatchObject({ recoverable: false });
    await sub.call('unsubscribe', { channel: 'nohist:x' });
    const reply = await sub.call('subscribe', { channel: 'nohist:x', recover: { offset: 0, epoch: first.result?.['epoch'] } });
    expect(reply.result).toMatchObject({ recovered: false });
    sub.close();
    await s2.close();
  });

  it('returns the first result for a repeated idempotency key and delivers once', async () => {
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub4' }));
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'reader4' }));
    await sub.call('subscribe', { channel: 'project:idem' });
    const a = await pub.call('publish', { channel: 'project:idem', data: { n: 1 }, idempotencyKey: 'k-1' });
    const b = await pub.call('publish', { channel: 'project:idem', data: { n: 1 }, idempotencyKey: 'k-1' });
    const c = await pub.call('publish', { channel: 'project:idem', data: { n: 2 }, idempotencyKey: 'k-2' });
    expect(b.result).toMatchObject({ offset: a.result?.['offset'], epoch: a.result?.['epoch'], deduplicated: true });
    expect(c.result?.['offset']).toBe((a.result?.['offset'] as number) + 1);
    await sub.waitFor((f: Frame) => f.push === 'pub' && f['offset'] === c.result?.['offset']);
    expect(pubsOf(sub, 'project:idem')).toEqual([a.result?.['offset'], c.result?.['offset']]);
    const hist = await sub.call('history', { channel: 'project:idem' });
    expect((hist.result?.['publications'] as unknown[]).length).toBe(2);
    pub.close();
    sub.close();
  });

  it('pages history forwards and backwards and after a position', async () => {
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub5' }));
    for (let i = 1; i <= 6; i++) await pub.call('publish', { channel: 'project:h', data: i });
    const all = await pub.call('history', { channel: 'project:h' });
    const epoch = all.result?.['epoch'];
    expect((all.result?.['publications'] as Array<{ data: number }>).map((p) => p.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const newest = await pub.call('history', { channel: 'project:h', limit: 2, reverse: true });
    expect((newest.result?.['publications'] as Array<{ data: number }>).map((p) => p.data)).toEqual([6, 5]);
    const after = await pub.call('history', { channel: 'project:h', since: { offset: 4, epoch } });
    expect((after.result?.['publications'] as Array<{ data: number }>).map((p) => p.data)).toEqual([5, 6]);
    const wrong = await pub.call('history', { channel: 'project:h', since: { offset: 4, epoch: 'x' } });
    expect(wrong.error?.code).toBe(112);
    pub.close();
  });
});

describe('fan-out wider than one flush', () => {
  let w: TestServer;
  beforeAll(async () => {
    w = await startTestServer({ limits: { newConnectionsPerIpPerSecond: 10_000 } });
  });
  afterAll(async () => {
    await w.close();
  });

  it('delivers a burst to more subscribers than one flush writes per turn: each gets every publication once, in order', async () => {
    // Node flushes 256 connections per event-loop turn; 600 subscribers span three turns
    // while the burst keeps arriving.
    const subs = await Promise.all(Array.from({ length: 600 }, async (_, i) => RawClient.connect(w.url, await w.token({ sub: `wide-${i}` }))));
    await Promise.all(subs.map((c) => c.call('subscribe', { channel: 'project:wide' })));
    const pub = await RawClient.connect(w.url, await w.token({ sub: 'wide-pub' }));
    for (let i = 0; i < 20; i++) pub.send('publish', { channel: 'project:wide', data: { i } });
    for (const c of subs) await c.until(() => pubsOf(c, 'project:wide').length >= 20, 10_000, '20 pubs');
    for (const c of subs) expect(pubsOf(c, 'project:wide')).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
    for (const c of [...subs, pub]) c.close();
  });
});
