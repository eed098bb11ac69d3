import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** One file of the SDK's browser build, as `@switchboard/client`'s bundle step described it. */
export interface SdkFile {
  bytes: number;
  gzip: number;
  /** Subresource Integrity value (`sha384-…`) for a `<script integrity>` attribute. */
  integrity: string;
}

/** The SDK's browser build: where its files are and what they are. */
export interface SdkBuild {
  version: string;
  /** The version plus a hash of the files: the immutable path segment, `/sdk/<build>/…`. */
  build: string;
  files: Record<string, SdkFile>;
  dir: string;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The declarations of each entry file of the build, a sibling file. */
const DECLARATIONS: Record<string, string> = {
  'switchboard.mjs': './switchboard.d.mts',
  'notifications.mjs': './notifications.d.mts',
  'activity.mjs': './activity.d.mts',
  'comments.mjs': './comments.d.mts',
  'records.mjs': './records.d.mts',
  'switchboard.js': './switchboard.d.ts',
};

/** The browser build of the installed `@switchboard/client`, or null when it was not built. */
export function findSdkBuild(): SdkBuild | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@switchboard/client/package.json');
    const dir = join(dirname(pkg), 'dist', 'browser');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Omit<SdkBuild, 'dir'>;
    return { ...manifest, dir };
  } catch {
    return null;
  }
}

/** The URL of one file under its immutable path, e.g. `http://localhost:7070/sdk/0.1.0-ab12/switchboard.js`. */
export function sdkUrl(base: string, sdk: SdkBuild, file: string): string {
  return `${base}/sdk/${sdk.build}/${file}`;
}

/**
 * Serve the SDK's browser build: `/sdk/<build>/<file>` immutable for a year,
 * `/sdk/<file>` (always the current build) revalidated by ETag, `/sdk/manifest.json` with
 * sizes and integrity values. Files are read once, gzip-compressed once, and sent to any
 * Origin (a page elsewhere imports them as modules, which needs CORS).
 */
export function registerSdk(app: FastifyInstance, sdk: SdkBuild | null): void {
  const files = new Map<string, { body: Buffer; gzip: Buffer; etag: string; type: string }>();
  for (const [name, meta] of Object.entries(sdk?.files ?? {})) {
    const body = readFileSync(join((sdk as SdkBuild).dir, name));
    const type = name.endsWith('.json')
      ? 'application/json; charset=utf-8'
      : /\.d\.m?ts$/.test(name)
        ? 'application/typescript; charset=utf-8'
        : 'text/javascript; charset=utf-8';
    files.set(name, { body, gzip: gzipSync(body, { level: 9 }), etag: `"${meta.integrity}"`, type });
  }
  const manifest = sdk ? Buffer.from(JSON.stringify({ version: sdk.version, build: sdk.build, path: `/sdk/${sdk.build}/`, files: sdk.files })) : null;

  app.get('/sdk/*', async (req: FastifyRequest, reply: FastifyReply) => {
    const rest = (req.params as { '*': string })['*'];
    reply.header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin').header('x-content-type-options', 'nosniff');
    if (rest === 'manifest.json' && manifest) {
      return reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8').send(manifest);
    }
    const versioned = sdk !== null && rest.startsWith(`${sdk.build}/`);
    const file = files.get(versioned ? rest.slice((sdk as SdkBuild).build.length + 1) : rest);
    if (!file) {
      const message = sdk ? 'no such SDK file (see /sdk/manifest.json)' : 'the SDK browser build is not installed (npm run build)';
      return reply
        .code(404)
        .type('application/json; charset=utf-8')
        .send({ error: { code: 117, message, temporary: false } });
    }
    reply
      .header('cache-control', versioned ? IMMUTABLE : 'no-cache')
      .header('etag', file.etag)
      .header('vary', 'accept-encoding')
      .type(file.type);
    // Where the module's declarations are (read by Deno and some bundlers), next to it.
    const name = versioned ? rest.slice((sdk as SdkBuild).build.length + 1) : rest;
    const declarations = DECLARATIONS[name];
    if (declarations && files.has(declarations.slice(2))) reply.header('x-typescript-types', declarations);
    if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(file.gzip);
    return reply.send(file.body);
  });
}
