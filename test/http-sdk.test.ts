import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

interface Manifest {
  version: string;
  build: string;
  path: string;
  files: Record<string, { bytes: number; gzip: number; integrity: string }>;
}

describe('the SDK browser build served at /sdk/', () => {
  let s: TestServer;
  let m: Manifest;
  beforeAll(async () => {
    s = await startTestServer();
    m = (await (await fetch(`${s.httpUrl}/sdk/manifest.json`)).json()) as Manifest;
  });
  afterAll(async () => {
    await s.close();
  });

  const sha384 = (bytes: Buffer) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

  it('lists the classic script, the ES modules and their chunks, each with its size and integrity', async () => {
    expect(m.version).toBe('0.1.0');
    expect(m.build).toMatch(/^0\.1\.0-[0-9a-f]{10}$/);
    expect(m.path).toBe(`/sdk/${m.build}/`);
    expect(Object.keys(m.files)).toEqual(expect.arrayContaining(['switchboard.js', 'switchboard.mjs', 'notifications.mjs', 'activity.mjs']));
    for (const [name, meta] of Object.entries(m.files)) {
      const res = await fetch(`${s.httpUrl}${m.path}${name}`, { headers: { 'accept-encoding': 'identity' } });
      expect(res.status, name).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(meta.bytes);
      expect(sha384(body)).toBe(meta.integrity);
    }
  });

  it('serves the versioned path immutable and the bare path revalidated by ETag, to any origin', async () => {
    const versioned = await fetch(`${s.httpUrl}${m.path}switchboard.mjs`);
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(versioned.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(versioned.headers.get('access-control-allow-origin')).toBe('*');
    expect(versioned.headers.get('x-content-type-options')).toBe('nosniff');
    const bare = await fetch(`${s.httpUrl}/sdk/switchboard.mjs`);
    expect(bare.headers.get('cache-control')).toBe('no-cache');
    const etag = bare.headers.get('etag') as string;
    expect(etag).toBe(`"${m.files['switchboard.mjs']?.integrity}"`);
    const again = await fetch(`${s.httpUrl}/sdk/switchboard.mjs`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('sends gzip to clients that accept it, the same bytes once decoded', async () => {
    const { request } = await import('node:http');
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(`${s.httpUrl}${m.path}switchboard.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.body.length).toBeLessThan(m.files['switchboard.js']?.bytes as number);
    expect(sha384(gunzipSync(raw.body))).toBe(m.files['switchboard.js']?.integrity);
  });

  it('docs/client.md shows the current build and integrity value of the classic script', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../docs/client.md', import.meta.url), 'utf8');
    // After a change to the SDK: npm run build && node packages/client/scripts/docs-sdk-values.mjs
    expect(doc).toContain(`/sdk/${m.build}/switchboard.js`);
    expect(doc).toContain(`integrity="${m.files['switchboard.js']?.integrity}"`);
  });

  it('the core ES module and the chunks it imports carry no notifications, activity or comments code; their own modules do', async () => {
    const text = async (name: string) => (await fetch(`${s.httpUrl}${m.path}${name}`)).text();
    /** A module's source with the chunks it imports, transitively. */
    const graph = async (name: string, seen = new Set<string>()): Promise<string> => {
      if (seen.has(name)) return '';
      seen.add(name);
      const source = await text(name);
      const chunks = [...source.matchAll(/from\s*"\.\/(chunks\/[^"]+)"/g)].map((x) => x[1] as string);
      return source + (await Promise.all(chunks.map((c) => graph(c, seen)))).join('');
    };
    const core = await graph('switchboard.mjs');
    expect(core).toContain('SwitchboardClient');
    for (const command of ['notifications.unread_count', 'activity.record', 'comments.create_thread', 'records.write', 'metrics.push'])
      expect(core).not.toContain(command);
    expect(await text('notifications.mjs')).toContain('notifications.unread_count');
    expect(await text('activity.mjs')).toContain('activity.record');
    expect(await text('comments.mjs')).toContain('comments.create_thread');
    expect(await text('records.mjs')).toContain('records.write');
    expect(await text('metrics.mjs')).toContain('metrics.push');
  });

  it('serves TypeScript declarations next to the build: a project that downloads the files type-checks against them, and a wrong call fails', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join, dirname } = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    for (const name of ['switchboard.d.mts', 'notifications.d.mts', 'activity.d.mts', 'comments.d.mts', 'records.d.mts', 'metrics.d.mts', 'switchboard.d.ts'])
      expect(Object.keys(m.files)).toContain(name);
    const mjs = await fetch(`${s.httpUrl}${m.path}switchboard.mjs`);
    expect(mjs.headers.get('x-typescript-types')).toBe('./switchboard.d.mts');
    const dts = await fetch(`${s.httpUrl}${m.path}switchboard.d.mts`);
    expect(dts.headers.get('content-type')).toBe('application/typescript; charset=utf-8');
    const dir = mkdtempSync(join(tmpdir(), 'sb-sdk-types-'));
    try {
      for (const name of Object.keys(m.files)) {
        const path = join(dir, 'sdk', name);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, Buffer.from(await (await fetch(`${s.httpUrl}${m.path}${name}`)).arrayBuffer()));
      }
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      const good = [
        "import { SwitchboardClient, ErrorCode } from './sdk/switchboard.mjs';",
        "import { notifications } from './sdk/notifications.mjs';",
        "import { activity } from './sdk/activity.mjs';",
        "const client = new SwitchboardClient('ws://localhost:7070/ws', { token: 'x' });",
        "const sub = client.subscribe('project:1');",
        'const code: number = ErrorCode.BadRequest.code;',
        'void sub; void code; void notifications(client); void activity(client, "project:1");',
        '',
      ].join('\n');
      const modules = ['--module', 'nodenext', '--moduleResolution', 'nodenext'];
      const tsc = (file: string, flags = modules) =>
        spawnSync(
          process.execPath,
          [
            join(import.meta.dirname, '../node_modules/typescript/bin/tsc'),
            '--noEmit',
            '--strict',
            ...flags,
            '--target',
            'es2022',
            '--lib',
            'es2022,dom',
            file,
          ],
          { cwd: dir, encoding: 'utf8', timeout: 60_000 },
        );
      writeFileSync(join(dir, 'good.mts'), good);
      const ok = tsc('good.mts');
      expect(ok.stdout + ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      writeFileSync(join(dir, 'bad.mts'), "import { SwitchboardClient } from './sdk/switchboard.mjs';\nnew SwitchboardClient(42);\n");
      const bad = tsc('bad.mts');
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toContain("Argument of type 'number' is not assignable to parameter of type 'string'");
      // The classic script's global, in a page's plain script.
      writeFileSync(
        join(dir, 'page.ts'),
        '/// <reference path="./sdk/switchboard.d.ts" />\nconst c = new Switchboard.SwitchboardClient(\'ws://localhost:7070/ws\');\nvoid Switchboard.notifications(c);\n',
      );
      const page = tsc('page.ts', ['--module', 'es2022', '--moduleResolution', 'bundler', '--moduleDetection', 'legacy']);
      expect(page.stdout + page.stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('answers 404 for anything else: unknown files, another build, paths out of the folder', async () => {
    for (const path of [
      '/sdk/nope.js',
      '/sdk/0.0.0-0000000000/switchboard.js',
      '/sdk/../package.json',
      '/sdk/%2e%2e/package.json',
      `${m.path}../../package.json`,
    ]) {
      const res = await fetch(`${s.httpUrl}${path}`);
      expect(res.status, path).toBe(404);
    }
  });
});
