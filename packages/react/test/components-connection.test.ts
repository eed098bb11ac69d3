// @vitest-environment happy-dom
import { createElement as h, type ReactNode } from 'react';
import { describe, expect, it } from 'vitest';
import { ConnectionStatus, usePublish } from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { screen, unmountScreens } from './dom.js';
import { perTest } from './harness.js';

const t$ = perTest(unmountScreens);

describe('ConnectionStatus', () => {
  it('counts down "reconnecting in N s" while the server is down, with the queued publishes, and shows connected again after it restarts', async () => {
    const t = await t$.harness({ restartable: true });
    // Every retry waits 2.5 s: long enough to see the countdown move.
    const client = t.client('alice', { backoff: { minDelay: 2500, maxDelay: 2500, shutdownJitter: 0 } });
    client.connect();
    let publish: ((data: string) => Promise<unknown>) | null = null;
    function Publisher(): ReactNode {
      publish = usePublish<string>('project:badge');
      return null;
    }
    // Under the Suspense entry's provider: the components work there too.
    const view = screen();
    view.root.render(h(suspense.SwitchboardProvider, { client }, h(ConnectionStatus, { className: 'badge' }), h(Publisher)));
    const badge = () => view.one('connection-status');
    await view.until(() => badge()?.textContent === 'connected', 'connected', 15_000);
    expect(badge()?.getAttribute('role')).toBe('status');
    expect(badge()?.dataset['state']).toBe('connected');
    expect(badge()?.classList.contains('badge')).toBe(true);

    await t.stop();
    const seconds = () => Number(/^reconnecting in (\d+) s/.exec(badge()?.textContent ?? '')?.[1] ?? Number.NaN);
    await view.until(() => seconds() >= 2, 'reconnecting in 2 or 3 s');
    const first = seconds();
    expect(badge()?.dataset['state']).toBe('reconnecting');
    // The countdown is shown but not announced every second.
    expect(badge()?.querySelector('[aria-live="off"]')?.textContent).toBe(` in ${first} s`);
    await view.until(() => seconds() === first - 1, 'the countdown moved');

    const sent = (publish as unknown as (data: string) => Promise<unknown>)('offline');
    await view.until(() => badge()?.textContent?.endsWith(', 1 queued') === true, 'one queued publish');

    await t.start();
    await view.until(() => badge()?.textContent === 'connected', 'connected again', 15_000);
    await sent;
  });
});
