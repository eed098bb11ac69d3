// @vitest-environment happy-dom
import { ErrorCode, type SwitchboardClient } from '@switchboard/client';
import { createElement as h, Suspense } from 'react';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../client/test/wait-for.js';
import { type HookResult, useLatest } from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { type Harness, type HarnessOptions, perTest, Recorder } from './harness.js';

const t$ = perTest();

type Bar = { formId: string; pct: number };
const CH = 'progress:import-7';
const CAPS = { 'progress:*': ['subscribe', 'publish', 'history'] };

/** A server whose `progress` namespace conflates by `formId` (a 50 ms window). */
const CONFLATING: HarnessOptions = { namespaces: { progress: { historySize: 100, conflation: { windowMs: 50, key: 'formId' } } } };

function clientOf(t: Harness, sub: string, caps: Record<string, string[]> = CAPS): SwitchboardClient {
  const client = t.client(sub, {}, { caps });
  client.connect();
  return client;
}

const mount = (client: SwitchboardClient, ...children: ReturnType<typeof h>[]) => t$.strict(client, ...children);

describe('useLatest', () => {
  it('shows the latest value of its key, seeded from history, and re-renders only when that key’s value changes', async () => {
    const t = await t$.harness(CONFLATING);
    const bob = clientOf(t, 'bob');
    await waitFor(bob, 'connected');
    await bob.publish(CH, { formId: 'f1', pct: 10 });
    await bob.publish(CH, { formId: 'f2', pct: 5 });
    await bob.publish(CH, { formId: 'f1', pct: 20 });

    const alice = clientOf(t, 'alice');
    const f1 = new Recorder<HookResult<Bar | null>>();
    const f2 = new Recorder<HookResult<Bar | null>>();
    const none = new Recorder<HookResult<Bar | null>>();
    function F1() {
      f1.push(useLatest<Bar>(CH, 'f1', { keyPath: 'formId' }));
      return null;
    }
    function F2() {
      f2.push(useLatest<Bar>(CH, 'f2', { keyPath: 'formId' }));
      return null;
    }
    function None() {
      none.push(useLatest<Bar>(CH, 'f9', { keyPath: 'formId' }));
      return null;
    }
    const root = mount(alice, h(F1), h(F2), h(None));
    await f1.until(() => true, 'the first render');
    expect(f1.values[0]).toMatchObject({ isLoading: true, data: undefined, error: null });
    await f1.until((r) => r.data?.pct === 20, 'f1 seeded from history');
    await f2.until((r) => r.data?.pct === 5, 'f2 seeded from history');
    await none.until((r) => !r.isLoading, 'f9 loaded');
    expect(none.last).toEqual({ data: null, isLoading: false, error: null });
    await t.counts.until(() => t.counts.live(CH) === 1, 'one subscription on the server');
    expect(t.counts.subscribes.get(CH)).toBe(1);

    // Many changes of f2 (conflated by the server), then one of f1.
    const f1Renders = f1.renders;
    const noneRenders = none.renders;
    for (let pct = 6; pct <= 30; pct++) await bob.publish(CH, { formId: 'f2', pct });
    await f2.until((r) => r.data?.pct === 30, 'f2 at its latest');
    expect(f1.renders).toBe(f1Renders);
    await bob.publish(CH, { formId: 'f1', pct: 40 });
    await f1.until((r) => r.data?.pct === 40, 'f1 live');
    // StrictMode renders twice per update: one update of f1, nothing for f2's 25 or for the key nobody published.
    expect(f1.renders - f1Renders).toBeLessThanOrEqual(2);
    expect(none.renders).toBe(noneRenders);
    // The snapshot is stable: the same object for every render of one value.
    const last = f1.values.filter((r) => r.data?.pct === 40);
    expect(new Set(last).size).toBe(1);

    root.unmount();
    await t.counts.until(() => t.counts.live(CH) === 0, 'the server unsubscribed');
  });

  it('the Suspense flavour suspends until seeded, then returns the data (null for a key without a value)', async () => {
    const t = await t$.harness(CONFLATING);
    const bob = clientOf(t, 'bob');
    await waitFor(bob, 'connected');
    await bob.publish(CH, { formId: 'f1', pct: 70 });
    const alice = clientOf(t, 'alice');
    const seen = new Recorder<[Bar | null, Bar | null]>();
    const fallback = new Recorder<string>();
    function Bars() {
      seen.push([suspense.useLatest<Bar>(CH, 'f1', { keyPath: 'formId' }), suspense.useLatest<Bar>(CH, 'f2', { keyPath: 'formId' })]);
      return null;
    }
    function Fallback() {
      fallback.push('loading');
      return null;
    }
    mount(alice, h(Suspense, { fallback: h(Fallback) }, h(Bars)));
    await seen.until(([a]) => a?.pct === 70, 'the seeded value');
    expect(fallback.renders).toBeGreaterThan(0);
    expect(seen.last?.[1]).toBeNull();
    await bob.publish(CH, { formId: 'f2', pct: 1 });
    await seen.until(([, b]) => b?.pct === 1, 'f2 live');
  });

  it('a channel the token may not read gives the plain hook an error with the protocol’s code', async () => {
    const t = await t$.harness(CONFLATING);
    const alice = clientOf(t, 'alice', { 'project:*': ['subscribe'] });
    const seen = new Recorder<HookResult<Bar | null>>();
    function Probe() {
      seen.push(useLatest<Bar>(CH, 'f1', { keyPath: 'formId' }));
      return null;
    }
    mount(alice, h(Probe));
    await seen.until((r) => r.error !== null, 'the error');
    expect(seen.last).toMatchObject({ data: undefined, isLoading: false, error: { code: ErrorCode.PermissionDenied.code } });
  });
});
