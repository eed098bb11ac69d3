// @vitest-environment happy-dom
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchboardClient } from '@switchboard/client';
import { createElement as h } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../../../test/helpers/server.js';
import { type ConnectionStatus, SwitchboardProvider, useConnectionStatus, usePublish } from '../src/index.js';
import { Recorder } from './harness.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('useConnectionStatus', () => {
  it('walks connected → reconnecting (with the delay) → connected when the server stops and starts again, counting the client’s queued offline publishes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-react-restart-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let server: TestServer = await startTestServer({ keepDataDir: dataDir });
    cleanups.push(() => server.close());
    const port = server.port;
    const client = new SwitchboardClient(server.url, {
      getToken: () => server.token({ sub: 'alice' }),
      WebSocket,
      backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
    });
    cleanups.push(() => client.disconnect());
    client.connect();

    const status = new Recorder<ConnectionStatus | undefined>();
    let publish: ((data: string) => Promise<unknown>) | null = null;
    function Badge() {
      status.push(useConnectionStatus().data);
      publish = usePublish<string>('project:restart');
      return null;
    }
    const root: Root = createRoot(document.createElement('div'));
    cleanups.push(() => root.unmount());
    root.render(h(SwitchboardProvider, { client }, h(Badge)));
    await status.until((s) => s?.state === 'connected', 'connected');

    await server.close();
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

    server = await startTestServer({ port, keepDataDir: dataDir });
    await status.until((s) => s?.state === 'connected', 'connected again', 10_000);
    await sent;
    await status.until((s) => s?.queued === 0, 'the queue flushed');
    expect(client.offlineQueueSize).toBe(0);
    expect(status.last?.reconnectIn).toBeNull();

    const states = status.values.map((s) => s?.state).filter((s, i, all) => s !== all[i - 1]);
    expect(states.slice(states.indexOf('connected'))).toEqual(['connected', 'connecting', 'connected']);
  });
});
