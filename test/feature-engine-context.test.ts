/**
 * Features reach the engine's node messages, leases and surveys through their start context,
 * each scoped to the feature: one feature's operations, lease keys and survey kinds never
 * meet another's, nor the kernel's.
 * One node on the memory engine; the engine suites cover several nodes on Redis.
 */
import { defineFeature, type FeatureContext } from '@switchboard/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

const WAIT = { timeout: 5_000, interval: 5 };

function probe(name: string, got: Array<[unknown, string]>) {
  let ctx: FeatureContext | undefined;
  const feature = defineFeature({
    name,
    start(c) {
      ctx = c;
      c.messages.onNotification('ping', (data, from) => {
        got.push([data, from]);
      });
    },
  });
  return { feature, ctx: () => ctx as FeatureContext };
}

describe('node messages, leases and surveys in a feature context', () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("delivers a feature's message to its own handlers only, naming this node", async () => {
    const [gotA, gotB]: Array<Array<[unknown, string]>> = [[], []];
    const a = probe('probe-a', gotA);
    const b = probe('probe-b', gotB);
    s = await startTestServer({ features: [a.feature, b.feature] });
    await a.ctx().messages.notify('ping', { hello: 'a' });
    await b.ctx().messages.notify('ping', 'b');
    await vi.waitFor(() => expect(gotB).toEqual([['b', b.ctx().messages.nodeId]]), WAIT);
    expect(gotA).toEqual([[{ hello: 'a' }, a.ctx().messages.nodeId]]);
  });

  it('scopes lease keys per feature, with fencing tokens', async () => {
    const a = probe('probe-a', []);
    const b = probe('probe-b', []);
    s = await startTestServer({ features: [a.feature, b.feature] });
    const ta = await a.ctx().leases.acquire('compact:doc-1', 10_000, 'n1');
    const tb = await b.ctx().leases.acquire('compact:doc-1', 10_000, 'n2');
    expect(ta).not.toBeNull();
    expect(tb).toBeGreaterThan(ta as number);
    expect(await a.ctx().leases.acquire('compact:doc-1', 10_000, 'n3')).toBeNull();
    expect(await a.ctx().leases.get('compact:doc-1')).toMatchObject({ owner: 'n1', token: ta });
    expect(await s.server.node.engine.leases.get('probe-b/compact:doc-1')).toMatchObject({ owner: 'n2', token: tb });
  });

  it('logs a handler that throws and keeps delivering', async () => {
    const got: unknown[] = [];
    let ctx: FeatureContext | undefined;
    const feature = defineFeature({
      name: 'thrower',
      start(c) {
        ctx = c;
        c.messages.onNotification('x', () => {
          throw new Error('handler failure (expected)');
        });
        c.messages.onNotification('x', (d) => {
          got.push(d);
        });
      },
    });
    s = await startTestServer({ features: [feature] });
    await ctx?.messages.notify('x', 1);
    await ctx?.messages.notify('x', 2);
    await vi.waitFor(() => expect(got).toEqual([1, 2]), WAIT);
  });

  it("answers a feature's survey with its own handler only, apart from the kernel's kinds; a handler that throws gives no answer", async () => {
    const a = probe('probe-a', []);
    const b = probe('probe-b', []);
    s = await startTestServer({ features: [a.feature, b.feature] });
    a.ctx().node.surveys.answer('count', (request) => ({ from: 'a', request }));
    b.ctx().node.surveys.answer('count', () => ({ from: 'b' }));
    // The kernel's own kind, named by a feature: the kernel's answer is unchanged.
    const ghost = { client: 'ghost', status: 'online', connectedAt: 1, node: 'n', channels: [] };
    a.ctx().node.surveys.answer('user-presence', () => [ghost]);
    expect(await a.ctx().node.surveys.ask('count', { n: 1 })).toEqual({ answers: [{ from: 'a', request: { n: 1 } }], nodes: 1, complete: true });
    expect(await b.ctx().node.surveys.ask('count', null)).toEqual({ answers: [{ from: 'b' }], nodes: 1, complete: true });
    expect(await a.ctx().node.surveys.ask('user-presence', { tenant: 'acme', user: 'ghost' })).toMatchObject({ answers: [[ghost]] });
    expect(await s.server.node.tenantViews.userPresence('acme', 'ghost')).toMatchObject({ online: false, devices: [] });
    expect(await a.ctx().node.surveys.ask('nobody answers', null)).toEqual({ answers: [], nodes: 1, complete: true });
    b.ctx().node.surveys.answer('count', () => {
      throw new Error('handler failure (expected)');
    });
    expect(await b.ctx().node.surveys.ask('count', null)).toEqual({ answers: [], nodes: 1, complete: true });
  });
});
