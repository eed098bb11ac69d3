// @vitest-environment happy-dom
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { type ConnectionStatus, useConnectionStatus, usePublish } from '../src/index.js';
import { perTest, Recorder } from './harness.js';

const t$ = perTest();

describe('useConnectionStatus', () => {
  it('walks connected → reconnecting (with the delay) → connected when the server stops and starts again, counting the client’s queued offline publishes', async () => {
    const t = await t$.harness({ restartable: true });
    const client = t.client('alice');
    client.connect();

    const status = new Recorder<ConnectionStatus | undefined>();
    let publish: ((data: string) => Promise<unknown>) | null = null;
    function Badge() {
      status.push(useConnectionStatus().data);
      publish = usePublish<string>('project:restart');
      return null;
    }
    t$.render(client, h(Badge));
    await status.until((s) => s?.state === 'connected', 'connected');

    await t.stop();
    await status.until((s) => s?.state === 'connecting' && s.reconnectIn !== null, 'reconnecting with a delay');
    const waiting = status.last as ConnectionStatus;
    expect(waiting.reconnectIn).toBeGreaterThan(0);
    expect(waiting.reconnectingSince).toBeTypeOf('number');
    expect(waiting.code).not.toBeNull();

    // Publishes while offline — through the hook or the client itself — are the client's offline queue, counted until they go out.
    const sent = Promise.all([
      (publish as unknown as (data: string) => Promise<unknown>)('offline'),
      client.publish('project:restart', 'direct 1'),
      client.publish('project:restart', 'direct 2'),
    ]);
    await status.until((s) => s?.queued === 3, 'three queued publishes');
    expect(client.offlineQueueSize).toBe(3);

    await t.start();
    await status.until((s) => s?.state === 'connected', 'connected again', 10_000);
    await sent;
    await status.until((s) => s?.queued === 0, 'the queue flushed');
    expect(client.offlineQueueSize).toBe(0);
    expect(status.last?.reconnectIn).toBeNull();

    const states = status.values.map((s) => s?.state).filter((s, i, all) => s !== all[i - 1]);
    expect(states.slice(states.indexOf('connected'))).toEqual(['connected', 'connecting', 'connected']);
  });
});
