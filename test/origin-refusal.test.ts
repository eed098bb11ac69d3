import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Switchboard } from '@switchboard/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

describe('a refused Origin', () => {
  const lines: Array<Record<string, unknown>> = [];
  let server: Switchboard;
  let port = 0;
  let dataDir = '';
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sb-origin-'));
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    server = await Switchboard.create({
      config: { host: '127.0.0.1', port: 0, dataDir, development: false, auth: { secret: 'o'.repeat(40) }, allowedOrigins: ['https://app.example'] },
      logger: pino({ level: 'warn' }, sink),
    });
    ({ port } = await server.listen());
  });
  afterAll(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const upgrade = (origin: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { origin } });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => {});
    });

  it('gets 403, is counted every time and logged once a minute per Origin, naming the option that allows it', async () => {
    for (let i = 0; i < 3; i++) expect(await upgrade('https://evil.example')).toBe(403);
    expect(await upgrade('https://other.example')).toBe(403);
    expect(await upgrade('https://app.example')).toBe(101);
    const refusals = lines.filter((l) => String(l['msg']).startsWith('WebSocket refused: Origin not allowed'));
    expect(refusals.map((l) => l['origin'])).toEqual(['https://evil.example', 'https://other.example']);
    expect(String(refusals[0]?.['msg'])).toContain('allowedOrigins (--allowed-origins / SWITCHBOARD_ALLOWED_ORIGINS)');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_drops_total\{reason="forbidden_origin"\} 4/);
  });

  it('a plain GET on the WebSocket path tells the page why, readable across origins', async () => {
    const refused = await fetch(`http://127.0.0.1:${port}/ws`, { headers: { origin: 'https://evil.example' } });
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://evil.example');
    expect(await refused.json()).toEqual({
      websocket: 'origin-refused',
      origin: 'https://evil.example',
      hint: 'add it to allowedOrigins (--allowed-origins / SWITCHBOARD_ALLOWED_ORIGINS)',
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/ws`)).json()).toEqual({ websocket: 'ok' });
  });
});
