import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Payload schemas: a namespace's JSON Schemas for publication data, presence state and
 * signal data, enforced on every client and HTTP publish, on presence and on signals, with
 * a valid and an invalid hand-written corpus; nothing invalid is stored, delivered or
 * counted. Schemas that do not compile refuse the start; `switchboard schema types`
 * prints types that TypeScript checks.
 */

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../packages/server/bin/switchboard.js');

const message = {
  type: 'object',
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 200 },
    mentions: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9_-]+$' }, maxItems: 10 },
    sentAt: { type: 'string', format: 'date-time' },
    kind: { enum: ['text', 'system'] },
  },
  required: ['text'],
  additionalProperties: false,
};
const presence = { type: 'object', properties: { status: { enum: ['online', 'away', 'busy'] } }, required: ['status'] };
const signal = { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'], additionalProperties: false };
const namespaces = { chat: { schemas: { publication: message, presence, signal } }, project: {} };

const VALID: unknown[] = [
  { text: 'hello' },
  { text: 'hi @bob', mentions: ['bob', 'carol_1'] },
  { text: 'déjà vu ✓', sentAt: '2026-12-04T10:00:00Z', kind: 'system' },
  { text: 'x'.repeat(200), mentions: [] },
];
/** Each invalid value with the path (and words) the error must name. */
const INVALID: Array<[unknown, string]> = [
  ['just a string', 'publication data: must be object'],
  [{}, "publication data/text: must have required property 'text'"],
  [{ text: '' }, 'publication data/text: must NOT have fewer than 1 characters'],
  [{ text: 'x'.repeat(201) }, 'publication data/text: must NOT have more than 200 characters'],
  [{ text: 'a', mentions: ['Bob!'] }, 'publication data/mentions/0: must match pattern "^[a-z0-9_-]+$"'],
  [{ text: 'a', mentions: 'bob' }, 'publication data/mentions: must be array'],
  [{ text: 'a', sentAt: 'yesterday' }, 'publication data/sentAt: must match format "date-time"'],
  [{ text: 'a', kind: 'shout' }, 'publication data/kind: must be equal to one of the allowed values: ["text","system"]'],
  [{ text: 'a', extra: 1 }, 'publication data/extra: must NOT have additional properties'],
  [null, 'publication data: must be object'],
  [[{ text: 'a' }], 'publication data: must be object'],
];

let s: TestServer;

async function api(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function publicationCount(): Promise<number> {
  const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
  return Number(text.match(/^switchboard_publications_total (\d+)/m)?.[1]);
}

async function historyOf(channel: string): Promise<unknown[]> {
  const res = await fetch(`${s.httpUrl}/api/v1/channels/${channel}/history?limit=100`, { headers: { authorization: `Bearer ${s.tenantKeys['acme']}` } });
  const body = (await res.json()) as { publications: Array<{ data: unknown }> };
  return body.publications.map((p) => p.data);
}

describe('payload schemas', () => {
  beforeAll(async () => {
    s = await startTestServer({ namespaces });
  });
  afterAll(async () => {
    await s.close();
  });

  it('accepts the valid corpus and refuses each invalid value with 119 naming its path, over WebSocket; only valid data is stored, delivered and counted', async () => {
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    expect((await sub.call('subscribe', { channel: 'chat:ws' })).error).toBeUndefined();
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'writer' }));
    const before = await publicationCount();
    for (const [value, detail] of INVALID) {
      const reply = await pub.call('publish', { channel: 'chat:ws', data: value });
      expect(reply.error, JSON.stringify(value)).toMatchObject({ code: 119, temporary: false });
      expect(reply.error?.message).toBe(`payload does not match the schema: ${detail}`);
    }
    for (const value of VALID) expect((await pub.call('publish', { channel: 'chat:ws', data: value })).error).toBeUndefined();
    await vi.waitFor(() => expect(sub.pushes('pub', 'chat:ws')).toHaveLength(VALID.length));
    expect(sub.pushes('pub', 'chat:ws').map((f) => f['data'])).toEqual(VALID);
    expect(await historyOf('chat:ws')).toEqual(VALID);
    expect((await publicationCount()) - before).toBe(VALID.length);
    // A namespace without schemas takes any JSON.
    expect((await pub.call('publish', { channel: 'project:any', data: 'just a string' })).error).toBeUndefined();
    sub.close();
    pub.close();
  });

  it('refuses invalid data on /publish, /broadcast and /batch with 422 and code 119, per item where the route reports per item', async () => {
    for (const [value, detail] of INVALID) {
      const r = await api('/publish', { channel: 'chat:http', data: value });
      expect(r.status, JSON.stringify(value)).toBe(422);
      expect(r.body['error']).toMatchObject({ code: 119, message: `payload does not match the schema: ${detail}` });
    }
    for (const value of VALID) expect((await api('/publish', { channel: 'chat:http', data: value })).status).toBe(200);
    const broadcast = await api('/broadcast', { channels: ['chat:b1', 'project:b2'], data: { text: 'a', extra: true } });
    expect(broadcast.status).toBe(200);
    const results = broadcast.body['results'] as Array<Record<string, unknown>>;
    expect(results[0]).toMatchObject({ channel: 'chat:b1', error: { code: 119 } });
    expect(results[1]).toMatchObject({ channel: 'project:b2', offset: 1 });
    const batch = await api('/batch', {
      publications: [
        { channel: 'chat:c', data: { text: 'ok' } },
        { channel: 'chat:c', data: { nope: 1 } },
      ],
    });
    const items = batch.body['results'] as Array<Record<string, unknown>>;
    expect(items[0]).toMatchObject({ offset: 1 });
    expect(items[1]).toMatchObject({ error: { code: 119 } });
    expect(await historyOf('chat:http')).toEqual(VALID);
    expect(await historyOf('chat:b1')).toEqual([]);
    expect(await historyOf('chat:c')).toEqual([{ text: 'ok' }]);
  });

  it('checks presence state and signal data against their schemas', async () => {
    const a = await RawClient.connect(s.url, await s.token({ sub: 'alice' }));
    const b = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
    for (const c of [a, b]) expect((await c.call('subscribe', { channel: 'chat:room' })).error).toBeUndefined();
    const badState = await a.call('presence_set', { channel: 'chat:room', state: { status: 'asleep' } });
    expect(badState.error).toMatchObject({ code: 119 });
    expect(badState.error?.message).toContain('presence state/status: must be equal to one of the allowed values');
    expect((await a.call('presence', { channel: 'chat:room' })).result).toEqual({ members: [] });
    expect((await a.call('presence_set', { channel: 'chat:room', state: { status: 'busy' } })).error).toBeUndefined();
    const badSignal = await a.call('signal', { channel: 'chat:room', key: 'cursor', data: { x: 1 } });
    expect(badSignal.error?.message).toBe("payload does not match the schema: signal data/y: must have required property 'y'");
    expect((await a.call('signal', { channel: 'chat:room', key: 'cursor' })).error).toMatchObject({ code: 119 });
    expect((await a.call('signal', { channel: 'chat:room', key: 'cursor', data: { x: 1, y: 2 } })).error).toBeUndefined();
    await vi.waitFor(() => expect(b.pushes('signal', 'chat:room')).toHaveLength(1));
    expect(b.pushes('signal', 'chat:room')[0]).toMatchObject({ data: { x: 1, y: 2 } });
    a.close();
    b.close();
  });
});

describe('schemas that do not compile', () => {
  const refused: Array<[string, unknown, string]> = [
    ['an unknown type', { type: 'objekt' }, 'namespaces.chat.schemas.publication: schema is invalid'],
    ['an unknown keyword (strict mode)', { type: 'object', propertys: {} }, 'namespaces.chat.schemas.publication: strict mode: unknown keyword: "propertys"'],
    [
      'a remote $ref (nothing is fetched)',
      { $ref: 'https://example.com/message.json' },
      "namespaces.chat.schemas.publication: can't resolve reference https://example.com/message.json",
    ],
    ['a pattern that is not a regular expression', { type: 'string', pattern: '([' }, 'namespaces.chat.schemas.publication:'],
  ];
  for (const [what, schema, detail] of refused) {
    it(`refuse the start with SB_ERR_CONFIG_INVALID naming the namespace: ${what}`, async () => {
      await expect(startTestServer({ namespaces: { chat: { schemas: { publication: schema as never } } } })).rejects.toMatchObject({
        code: 'SB_ERR_CONFIG_INVALID',
        message: expect.stringContaining(detail),
      });
    });
  }

  it('refuse a schema that is neither an object nor a boolean at config parse', async () => {
    await expect(startTestServer({ namespaces: { chat: { schemas: { publication: 'message.json' as never } } } })).rejects.toMatchObject({
      code: 'SB_ERR_CONFIG_INVALID',
      message: expect.stringContaining('namespaces.chat.schemas.publication'),
    });
  });
});

describe('switchboard schema types', () => {
  it('prints types that accept the valid corpus and reject a wrong payload, and a map by namespace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-schema-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ namespaces: { ...namespaces, 'team-room': { schemas: { publication: true } } } }));
    const { stdout } = await run(process.execPath, [BIN, 'schema', 'types', '--config', join(dir, 'config.json'), '--out', join(dir, 'schemas.ts')]);
    expect(stdout.trim()).toBe(`wrote ${join(dir, 'schemas.ts')}`);
    const ok = `import type { ChatPublication, SwitchboardSchemas, TeamRoomPublication } from './schemas.js';
const corpus: ChatPublication[] = ${JSON.stringify(VALID)};
const state: SwitchboardSchemas['chat']['presence'] = { status: 'away' };
const cursor: SwitchboardSchemas['chat']['signal'] = { x: 1, y: 2 };
const anything: TeamRoomPublication = 42;
export { corpus, state, cursor, anything };
`;
    const bad = `import type { ChatPublication } from './schemas.js';
export const m: ChatPublication = { text: 'a', kind: 'shout' };
`;
    writeFileSync(join(dir, 'ok.ts'), ok);
    writeFileSync(join(dir, 'bad.ts'), bad);
    // One program for both files, without the DOM and @types libraries: only the generated types are checked.
    const program = ts.createProgram([join(dir, 'ok.ts'), join(dir, 'bad.ts')], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      lib: ['lib.es2022.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
    });
    const diagnostics = (file: string) =>
      ts.getPreEmitDiagnostics(program, program.getSourceFile(join(dir, file))).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics('ok.ts')).toEqual([]);
    expect(diagnostics('bad.ts').join('\n')).toContain('"shout"');
  }, 60_000);

  it('refuses a schema the server would refuse, with the same message, and an unknown subcommand', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-schema-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ namespaces: { chat: { schemas: { presence: { type: 'objekt' } } } } }));
    const bad = await run(process.execPath, [BIN, 'schema', 'types', '--config', join(dir, 'config.json')]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('SB_ERR_CONFIG_INVALID: namespaces.chat.schemas.presence: schema is invalid') });
    const unknown = await run(process.execPath, [BIN, 'schema', 'typez']).catch((e: { code: number; stderr: string }) => e);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown schema command "typez"') });
  });
});
