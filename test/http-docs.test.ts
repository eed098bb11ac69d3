import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, type ErrorCodeName } from '@switchboard/protocol';
import { builtinFeatures, configSchema } from '@switchboard/server';
import { apiRoutes, HTTP_STATUS, openApiDocument } from '@switchboard/server/testing';
import { describe, expect, it } from 'vitest';

const doc = readFileSync(join(import.meta.dirname, '../docs/http-api.md'), 'utf8');

/** Rows of the markdown table after a heading, up to the next blank-line-separated paragraph. */
function tableAfter(heading: string): string[][] {
  const start = doc.indexOf(heading);
  expect(start, heading).toBeGreaterThan(-1);
  const rows: string[][] = [];
  for (const line of doc.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    if (line.startsWith('|---') || line.startsWith('| code')) continue;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('docs/http-api.md agrees with the code', () => {
  it('lists the HTTP status of every reply error code', () => {
    const expected = (Object.keys(ErrorCode) as ErrorCodeName[]).map((name) => [String(ErrorCode[name].code), name, String(HTTP_STATUS[name])]);
    expect(tableAfter('### HTTP status of each error code')).toEqual(expected);
  });

  it("lists every route of the built-in features, each also in its feature's page", () => {
    const config = configSchema.parse({}) as Record<string, unknown>;
    const expected = builtinFeatures()
      .flatMap((f) => (f.routes?.(config[f.name] as never) ?? []).map((r) => [`${r.method} /api/v1${r.url}`, f.name]))
      .sort();
    // The table under the heading (after its introduction): `route` | [feature](page)
    const section = doc.slice(doc.indexOf('## Feature routes')).split('\n');
    const rows = section.slice(section.findIndex((l) => l.startsWith('|'))).filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('|')));
    const listed = rows
      .slice(2)
      .map((row) => {
        const [route, feature] = row
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()) as [string, string];
        return [route.replaceAll('`', ''), /\[(\w+)\]/.exec(feature)?.[1] ?? ''];
      })
      .sort();
    expect(listed).toEqual(expected);
    for (const [route, name] of expected) {
      const page = readFileSync(join(import.meta.dirname, `../docs/${name}.md`), 'utf8');
      const [method, path] = (route as string).split(' ') as [string, string];
      const mentioned = page.includes(`${method} ${path}`) || page.includes(`${method} ${path.replace('/api/v1', '')}`);
      expect(mentioned, `${route} in docs/${name}.md`).toBe(true);
    }
  });

  it('has a section for every route, and none for a route that does not exist', () => {
    const routes = apiRoutes(configSchema.parse({}), () => openApiDocument([]));
    const expected = routes.map((r) => `${r.method} /api/v1${r.url}`).sort();
    const documented = [...doc.matchAll(/^### ((?:GET|POST|PUT|PATCH|DELETE) \S+)$/gm)].map((m) => m[1] as string).sort();
    expect(documented).toEqual(expected);
  });
});
