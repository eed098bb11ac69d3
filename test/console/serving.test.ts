import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The web console as the server serves it at /console/: every app path is the page (never
 * cached), hashed assets are immutable and pre-compressed (brotli or gzip by
 * Accept-Encoding), the Content-Security-Policy is strict, and the config turns it off.
 */

let s: TestServer;

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, redirect: 'manual' });

/** The asset paths the page names (its script and stylesheet). */
async function assetsOf(base: string): Promise<string[]> {
  const html = await (await get(`${base}/console/`)).text();
  return [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
}

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('the console as served', () => {
  it('serves the page at every app path (deep links and reloads), never cached, with a strict CSP and no inline script', async () => {
    for (const path of ['/console/', '/console/admin', '/console/admin/connections', '/console/admin/channels', '/console/demo']) {
      const res = await get(`${s.httpUrl}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("style-src 'self';");
      expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${s.port};`);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).toContain('<div id="root"></div>');
      // Every script is a file of this origin: none inline, no inline style either.
      for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? [])
        expect(tag).toMatch(/^<script type="module" crossorigin src="\/console\/assets\/[^"]+\.js"><\/script>$/);
      expect(html).not.toMatch(/<style\b|\sstyle=/);
    }
    const bare = await get(`${s.httpUrl}/console`);
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/console/');
  });

  it('a connect-src names only the host the page was asked for, and no host at all for a Host header that is not one', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      import('node:net').then(({ connect }) => {
        const socket = connect(s.port, '127.0.0.1', () =>
          socket.end('GET /console/admin HTTP/1.1\r\nHost: evil.example; script-src *\r\nConnection: close\r\n\r\n'),
        );
        let text = '';
        socket.on('data', (d) => (text += String(d)));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      }, reject);
    });
    const csp = /content-security-policy: ([^\r\n]*)/i.exec(raw)?.[1] ?? '';
    expect(csp).toContain("connect-src 'self';");
    expect(csp).not.toContain('evil');
  });

  it('serves hashed assets immutable for a year, brotli or gzip by Accept-Encoding, with ETags', async () => {
    const assets = await assetsOf(s.httpUrl);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const plain = await get(`${s.httpUrl}${asset}`, { 'accept-encoding': 'identity' });
      expect(plain.status).toBe(200);
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(plain.headers.get('vary')).toBe('accept-encoding');
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(plain.headers.get('content-type')).toMatch(asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const body = Buffer.from(await plain.arrayBuffer());
      // fetch decodes what it asked for itself; node:http would hand the bytes over as sent, so read them raw.
      const raw = async (encoding: string) => {
        const { request } = await import('node:http');
        return new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolve, reject) => {
          const req = request(`${s.httpUrl}${asset}`, { headers: { 'accept-encoding': encoding } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ encoding: res.headers['content-encoding'], bytes: Buffer.concat(chunks) }));
          });
          req.on('error', reject);
          req.end();
        });
      };
      const br = await raw('gzip, deflate, br');
      expect(br.encoding).toBe('br');
      expect(brotliDecompressSync(br.bytes).equals(body)).toBe(true);
      const gz = await raw('gzip');
      expect(gz.encoding).toBe('gzip');
      expect(gunzipSync(gz.bytes).equals(body)).toBe(true);
      expect((await raw('gzip, br;q=0')).encoding).toBe('gzip');
      expect(br.bytes.length).toBeLessThan(body.length);
      const etag = plain.headers.get('etag') as string;
      expect((await get(`${s.httpUrl}${asset}`, { 'if-none-match': etag })).status).toBe(304);
    }
  });

  it('serves a favicon, and 404 for an unknown asset or file rather than the page', async () => {
    const icon = await get(`${s.httpUrl}/console/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    for (const path of ['/console/assets/nope.js', '/console/assets/index-00000000.css', '/console/nope.png', '/console/admin/x.js', '/console/assets/']) {
      const res = await get(`${s.httpUrl}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(117);
    }
  });

  it('tells the app the demo is on in development mode, and off (demo path 404) in production unless console.demo is set', async () => {
    expect(await (await get(`${s.httpUrl}/console/`)).text()).toContain('<meta name="switchboard-demo" content="on" />');
    const production = { development: false, auth: { secret: 'p'.repeat(40) } };
    const prod = await startTestServer(production);
    try {
      expect(await (await get(`${prod.httpUrl}/console/`)).text()).toContain('<meta name="switchboard-demo" content="off" />');
      expect((await get(`${prod.httpUrl}/console/demo`)).status).toBe(404);
      expect((await get(`${prod.httpUrl}/console/admin`)).status).toBe(200);
    } finally {
      await prod.close();
    }
    const withDemo = await startTestServer({ ...production, console: { demo: true } });
    try {
      expect((await get(`${withDemo.httpUrl}/console/demo`)).status).toBe(200);
    } finally {
      await withDemo.close();
    }
  }, 60_000);

  it('console.enabled false: every /console path is 404, the API still answers', async () => {
    const off = await startTestServer({ console: { enabled: false } });
    try {
      for (const path of ['/console', '/console/', '/console/admin', '/console/favicon.svg', ...(await assetsOf(s.httpUrl))]) {
        expect((await get(`${off.httpUrl}${path}`)).status, path).toBe(404);
      }
      expect((await get(`${off.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await off.close();
    }
  }, 60_000);
});
