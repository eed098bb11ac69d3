import { SwitchboardClient } from '@switchboard/client';
import { DisconnectCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../packages/client/test/wait-for.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const INSUFFICIENT = DisconnectCode.InsufficientState.code;

describe('a stream that loses its history under live subscribers (memory engine)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ namespaces: { project: { historySize: 50 } } });
  });
  afterAll(async () => {
    await s.close();
  });

  const removeHistory = async (channel: string) => {
    const res = await fetch(`${s.httpUrl}/api/v1/channels/${channel}/history`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  };

  it('pub pushes carry the epoch of their stream', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'e1' }));
    const sub = await c.call('subscribe', { channel: 'project:epoch' });
    await c.call('publish', { channel: 'project:epoch', data: 1 });
    const pub = await c.waitFor((f) => f.push === 'pub');
    expect(pub).toMatchObject({ channel: 'project:epoch', offset: 1, epoch: sub.result?.['epoch'] });
    c.close();
  });

  it('tells a raw subscriber with unsubscribe 3009; its recovery then answers recovered false with the new epoch', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'raw' }));
    const first = await c.call('subscribe', { channel: 'project:lost' });
    const oldEpoch = first.result?.['epoch'] as string;
    for (let i = 1; i <= 3; i++) await c.call('publish', { channel: 'project:lost', data: i });
    await c.until(() => c.pushes('pub', 'project:lost').length === 3, 5000, '3 pubs');
    await removeHistory('project:lost');
    const push = await c.waitFor((f) => f.push === 'unsubscribe');
    expect(push).toEqual({ push: 'unsubscribe', channel: 'project:lost', code: INSUFFICIENT, reason: DisconnectCode.InsufficientState.reason });
    // The server dropped the subscription: a publication of the new stream is not pushed to it.
    const published = await c.call('publish', { channel: 'project:lost', data: 'new' });
    expect(published.result).toMatchObject({ offset: 1 });
    const newEpoch = published.result?.['epoch'] as string;
    expect(newEpoch).not.toBe(oldEpoch);
    const again = await c.call('subscribe', { channel: 'project:lost', recover: { offset: 3, epoch: oldEpoch } });
    expect(again.result).toMatchObject({ recovered: false, epoch: newEpoch, offset: 1, publications: [] });
    await c.call('publish', { channel: 'project:lost', data: 'next' });
    const next = await c.waitFor((f) => f.push === 'pub' && f['epoch'] === newEpoch);
    expect(next).toMatchObject({ offset: 2, data: 'next' });
    expect(c.pushes('pub', 'project:lost').map((f) => [f['epoch'], f['offset']])).toEqual([
      [oldEpoch, 1],
      [oldEpoch, 2],
      [oldEpoch, 3],
      [newEpoch, 2],
    ]);
    c.close();
  });

  it('the SDK resubscribes by itself and reports recovered false, then delivers the new stream', async () => {
    const client = new SwitchboardClient(s.url, { getToken: () => s.token({ sub: 'sdk' }), WebSocket, backoff: { minDelay: 10, maxDelay: 50 } });
    const up = waitFor(client, 'connected');
    client.connect();
    await up;
    const sub = client.subscribe<number | string>('project:sdklost');
    const first = await waitFor(sub, 'subscribed');
    const seen: Array<[number, unknown]> = [];
    sub.on('publication', (p) => seen.push([p.offset, p.data]));
    for (let i = 1; i <= 3; i++) await sub.publish(i);
    const states: number[] = [];
    sub.on('subscribing', (e) => states.push(e.code));
    const resubscribed = waitFor(sub, 'subscribed');
    await removeHistory('project:sdklost');
    const again = await resubscribed;
    expect(again).toMatchObject({ recovered: false, wasRecovering: true, offset: 0 });
    expect(again.epoch).not.toBe(first.epoch);
    expect(states).toEqual([INSUFFICIENT]);
    const delivered = waitFor(sub, 'publication', (p) => p.data === 'after');
    await sub.publish('after');
    await delivered;
    expect(seen).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [1, 'after'],
    ]);
    client.disconnect();
  });

  it('counts the loss by cause in the metrics', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'm' }));
    await c.call('subscribe', { channel: 'project:metric' });
    await removeHistory('project:metric');
    await c.waitFor((f) => f.push === 'unsubscribe');
    const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
    expect(text).toMatch(/switchboard_stream_losses_total\{cause="removed"\} [1-9]/);
    expect(text).toMatch(/switchboard_resubscribes_requested_total [1-9]/);
    // Process metrics carry the product prefix once.
    expect(text).toMatch(/^switchboard_process_cpu_seconds_total /m);
    expect(text).not.toContain('switchboard_process_process_');
    c.close();
  });
});
