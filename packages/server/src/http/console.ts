import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath, URL as NodeURL } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';

/**
 * The web console's build, made by `packages/console` (Vite) into the server package's
 * `console-dist/` folder, with a `.gz` and a `.br` beside each text file. Resolved with
 * node:url's URL, not the global one, which a DOM test environment (happy-dom) replaces.
 */
export const CONSOLE_DIST = fileURLToPath(new NodeURL('../../console-dist/', import.meta.url));

/** Whether the console was built (`npm run build` builds it). */
export function consoleBuilt(dir = CONSOLE_DIST): boolean {
  return existsSync(join(dir, 'index.html'));
}

interface ConsoleFile {
  body: Buffer;
  gzip: Buffer | null;
  br: Buffer | null;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Files outside `assets/` (the favicon) have no hash in their name: a day, then revalidated by ETag. */
const UNHASHED = 'public, max-age=86400';
/** A Host header as browsers send it: a name or address and an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function readTree(dir: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.endsWith('.gz') && !entry.name.endsWith('.br') && !entry.name.endsWith('.map')) {
        const body = readFileSync(path);
        const variant = (suffix: string) => (existsSync(`${path}${suffix}`) ? readFileSync(`${path}${suffix}`) : null);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        files.set(relative(dir, path).split(sep).join('/'), {
          body,
          gzip: variant('.gz'),
          br: variant('.br'),
          type: TYPES[extname(entry.name)] ?? 'application/octet-stream',
          etag,
        });
      }
    }
  };
  walk(dir);
  return files;
}

/** The page with what the server tells the app (whether the demo is on), compressed once. */
function indexPage(html: Buffer, demo: boolean): ConsoleFile {
  const body = Buffer.from(html.toString('utf8').replace('<head>', `<head>\n    <meta name="switchboard-demo" content="${demo ? 'on' : 'off'}" />`));
  return {
    body,
    gzip: gzipSync(body, { level: 9 }),
    br: brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }),
    type: TYPES['.html'] as string,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

/** The encodings a request accepts with q > 0 (`br;q=0` refuses brotli). */
function accepted(header: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of String(header ?? '').split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (name && (q === undefined || Number(q) > 0)) out.add(name);
  }
  return out;
}

/**
 * The console's response headers: a strict Content-Security-Policy (scripts, styles and
 * fetches only from this origin, the WebSocket only to this host), no sniffing, no framing,
 * no referrer (the address may have held the admin key's fragment a moment).
 */
function securityHeaders(req: FastifyRequest, reply: FastifyReply, secure: boolean): void {
  const host = req.headers.host;
  const sockets = host && HOST_RE.test(host) ? ` ${secure ? 'wss' : 'ws'}://${host}` : '';
  reply
    .header(
      'content-security-policy',
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'${sockets}; ` +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
}

function send(req: FastifyRequest, reply: FastifyReply, file: ConsoleFile, cache: string): FastifyReply {
  reply.header('cache-control', cache).header('etag', file.etag).header('vary', 'accept-encoding').type(file.type);
  if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
  const encodings = accepted(req.headers['accept-encoding']);
  if (file.br && encodings.has('br')) return reply.header('content-encoding', 'br').send(file.br);
  if (file.gzip && encodings.has('gzip')) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.body);
}

function notFound(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(404)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send({ error: { code: 117, message, temporary: false } });
}

/**
 * Serve the web console at `/console/`: hashed assets (`/console/assets/…`) immutable for a
 * year, every other path without a file extension (`/console/admin`, `/console/demo`) the
 * app's page, never cached, so deep links and reloads work; pre-compressed brotli or gzip by
 * Accept-Encoding. `/console/demo` exists only with the demo on. Nothing when
 * `console.enabled` is off: every `/console` path is then the server's ordinary 404.
 */
export function registerConsole(app: FastifyInstance, config: Readonly<Config>, secure: boolean, dir = CONSOLE_DIST): void {
  if (!config.console.enabled) return;
  const demo = config.console.demo ?? config.development;
  const files = consoleBuilt(dir) ? readTree(dir) : new Map<string, ConsoleFile>();
  const html = files.get('index.html');
  files.delete('index.html');
  const index = html ? indexPage(html.body, demo) : null;

  app.get('/console', async (_req, reply) => reply.redirect('/console/', 301));
  app.get('/console/*', async (req: FastifyRequest, reply: FastifyReply) => {
    const rest = (req.params as { '*': string })['*'];
    securityHeaders(req, reply, secure);
    if (!index) return notFound(reply, 'the console is not built (npm run build)');
    const file = files.get(rest);
    if (file) return send(req, reply, file, rest.startsWith('assets/') ? IMMUTABLE : UNHASHED);
    // An app route: a path without a file extension, outside the assets folder.
    const route = !rest.startsWith('assets/') && !/\.[A-Za-z0-9]+$/.test(rest);
    if (!route || (!demo && (rest === 'demo' || rest.startsWith('demo/')))) return notFound(reply, 'no such console file');
    return send(req, reply, index, 'no-store');
  });
}
