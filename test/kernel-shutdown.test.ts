import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '@switchboard/server';
import { describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer } from './helpers/server.js';

const BIN = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'switchboard.js');
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-use';

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal}: clients get 3001 (reconnect with jitter), the process exits 0`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'sb-shutdown-'));
      const child = spawn(
        process.execPath,
        [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--secret', SECRET, '--log-level', 'silent'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const port = await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no port in: ${output}`)), 10000);
        child.stdout.on('data', () => {
          const m = /listening on port (\d+)/.exec(output);
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
      });
      const c = await RawClient.connect(
        `ws://127.0.0.1:${port}/ws`,
        await mintToken(SECRET, { sub: 'a', tenant: 'acme', caps: { 'project:*': ['subscribe', 'publish'] } }),
      );
      await c.call('subscribe', { channel: 'project:1' });
      child.kill(signal);
      expect(await c.waitClose(10000)).toBe(3001);
      expect(await exited).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    });
  }

  it('fails readiness while draining and refuses new connections with 503', async () => {
    const s = await startTestServer();
    expect((await fetch(`${s.httpUrl}/readyz`)).status).toBe(200);
    const c = await RawClient.connect(s.url, await s.token({ sub: 'd' }));
    const drained = s.server.node.drain();
    expect(await c.waitClose()).toBe(3001);
    await drained;
    const ready = await fetch(`${s.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'draining' });
    await expect(RawClient.open(s.url)).rejects.toThrow('HTTP 503');
    expect((await fetch(`${s.httpUrl}/healthz`)).status).toBe(200);
    await s.close();
  });

  it('lets an in-flight publish finish before clients are closed', async () => {
    const s = await startTestServer();
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'p' }));
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'q' }));
    await sub.call('subscribe', { channel: 'project:x' });
    const id = pub.send('publish', { channel: 'project:x', data: 'last' });
    await pub.waitFor((f) => f.id === id);
    const drained = s.server.node.drain();
    await sub.waitClose();
    await drained;
    expect(sub.pushes('pub', 'project:x').map((f) => f['data'])).toEqual(['last']);
    await s.close();
  });
});

describe('metrics and health', () => {
  it('exposes Prometheus metrics for connections, messages, errors and command latency', async () => {
    const s = await startTestServer();
    const c = await RawClient.connect(s.url, await s.token({ sub: 'm' }));
    await c.call('subscribe', { channel: 'project:m' });
    await c.call('subscribe', { channel: 'nope:1' });
    const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
    expect(text).toMatch(/^switchboard_connections 1$/m);
    expect(text).toMatch(/^switchboard_subscriptions 1$/m);
    expect(text).toMatch(/^switchboard_errors_total\{code="102"\} 1$/m);
    expect(text).toMatch(/switchboard_command_duration_seconds_count\{method="subscribe"\} 2/);
    expect(text).toMatch(/^switchboard_messages_in_total \d+$/m);
    expect(text).toMatch(/^switchboard_bytes_out_total \d+$/m);
    c.close();
    await s.close();
  });
});
