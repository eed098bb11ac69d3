import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { DocumentCloseCode, ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { DOCUMENT_SETUPS, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The documents HTTP API on both stores: read a document as a Yjs update and as JSON,
 * apply an update from the backend (relayed to connected providers, answered once stored),
 * refuse malformed and oversized ones with nothing changed, list, delete with connected
 * providers told, who is in a document, tenants apart, and the debounced
 * `document.updated` webhook event.
 */
describe.each(DOCUMENT_SETUPS)('documents over HTTP on %s', (store) => {
  let s: DocumentsServer;
  let receiver: WebhookReceiver;
  let n = 0;
  const name = () => `doc:http-${++n}`;
  const pool = new ProviderPool(() => s);
  const { provider } = pool;
  const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    s = await startDocumentsServer(store, {
      documents: { updateEventDebounce: '200ms' },
      namespaces: { doc: { documents: true }, small: { documents: { maxDocumentBytes: 2048, maxUpdateBytes: 1024 } }, project: {} },
      webhooks: { allowNetworks: ['127.0.0.1/32'] },
    });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
    await receiver?.close();
  });

  it('applies an update from the backend: relayed to a connected provider, answered once stored, and read back as an update and as JSON (a __proto__ key kept as data)', async () => {
    const doc = name();
    const p = await provider(doc, 'ada');
    const local = new Y.Doc();
    local.getText('body').insert(0, 'from the backend');
    local.getMap('fields').set('title', 'Form');
    local.getMap('fields').set('__proto__', 'data, not a prototype');
    local.getArray('tags').push(['a', 'b']);
    const res = await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(Y.encodeStateAsUpdate(local)) } });
    expect(res.status).toBe(200);
    expect(res.body['bytes']).toBeGreaterThan(0);
    await eventually(() => p.doc.getText('body').toString() === 'from the backend', WAIT, 'the provider got it');
    await s.restart();
    const got = await s.api('GET', `/documents/${doc}`);
    expect(got.status).toBe(200);
    const json = got.body['json'] as Record<string, unknown>;
    expect(json['body']).toBe('from the backend');
    expect(json['tags']).toEqual(['a', 'b']);
    const fields = json['fields'] as Record<string, unknown>;
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value).toBe('data, not a prototype');
    expect(fields['title']).toBe('Form');
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Buffer.from(got.body['update'] as string, 'base64'));
    expect(copy.getText('body').toString()).toBe('from the backend');
  });

  it('keeps an update that arrives before the one it depends on: it waits, goes in with it, reaches providers and is stored, and a duplicate changes nothing', async () => {
    const doc = name();
    const p = await provider(doc, 'ada');
    const local = new Y.Doc();
    const updates: Uint8Array[] = [];
    local.on('update', (u: Uint8Array) => updates.push(u));
    local.getText('body').insert(0, 'first ');
    local.getText('body').insert(6, 'second');
    const [first, second] = updates as [Uint8Array, Uint8Array];
    expect((await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(second) } })).status).toBe(200);
    expect((await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(first) } })).status).toBe(200);
    await eventually(() => p.doc.getText('body').toString() === 'first second', WAIT, 'the provider got both');
    // The same update again applies as nothing: the stored document does not change.
    const stored = await s.api('GET', `/documents/${doc}`);
    expect((await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(first) } })).status).toBe(200);
    expect((await s.api('GET', `/documents/${doc}`)).body['bytes']).toBe(stored.body['bytes']);
    await s.restart();
    const got = await s.api('GET', `/documents/${doc}`);
    expect((got.body['json'] as Record<string, unknown>)['body']).toBe('first second');
  });

  it('refuses a malformed update (422, 133) and an oversized one (413) with the document unchanged; a name outside document namespaces is 404 and creates nothing', async () => {
    const doc = name();
    const local = new Y.Doc();
    local.getText('body').insert(0, 'kept');
    expect((await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(Y.encodeStateAsUpdate(local)) } })).status).toBe(200);
    const before = (await s.api('GET', `/documents/${doc}`)).body['update'];
    const bad = await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(Uint8Array.from([1, 2, 3, 4, 5])) } });
    expect(bad.status).toBe(422);
    expect((bad.body['error'] as { code: number }).code).toBe(ErrorCode.InvalidUpdate.code);
    const big = new Y.Doc();
    big.getText('body').insert(0, 'x'.repeat(1500));
    expect((await s.api('POST', `/documents/small:${n}/updates`, { body: { update: b64(Y.encodeStateAsUpdate(big)) } })).status).toBe(413);
    expect((await s.api('GET', `/documents/${doc}`)).body['update']).toBe(before);
    expect((await s.api('GET', '/documents/project:1')).status).toBe(404);
    expect((await s.api('POST', '/documents/project:1/updates', { body: { update: b64(Y.encodeStateAsUpdate(local)) } })).status).toBe(404);
    expect((await s.api('GET', '/documents/nosuch:1')).status).toBe(404);
    const listed = (await s.api('GET', '/documents?limit=200')).body['documents'] as Array<{ name: string }>;
    expect(listed.map((d) => d.name)).not.toContain('project:1');
  });

  it('changes a document with JSON operations as one change: a connected provider receives it, the refused ones (another kind, beyond the content, oversized) change nothing', async () => {
    const doc = name();
    const p = await provider(doc, 'ada');
    p.doc.getText('body').insert(0, 'Hello');
    p.doc.getArray('tags').push(['a']);
    await eventually(async () => ((await s.api('GET', `/documents/${doc}`)).body['json'] as { body?: string })['body'] === 'Hello', WAIT, 'stored');
    const updates: Uint8Array[] = [];
    p.doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== null) updates.push(u);
    });
    const change = (ops: unknown[], path = doc) => s.api('POST', `/documents/${path}/changes`, { body: { ops } });
    const res = await change([
      { op: 'map.set', root: 'fields', key: 'email', value: 'ada@example.com' },
      { op: 'map.set', root: 'fields', key: '__proto__', value: { polluted: true } },
      { op: 'map.set', root: 'fields', key: 'gone', value: 1 },
      { op: 'map.delete', root: 'fields', key: 'gone' },
      { op: 'text.insert', root: 'body', text: ', world' },
      { op: 'text.insert', root: 'body', index: 0, text: '> ' },
      { op: 'text.delete', root: 'body', index: 2, length: 1 },
      { op: 'array.insert', root: 'tags', values: ['b', { c: 3 }] },
      { op: 'array.delete', root: 'tags', index: 0, length: 1 },
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await eventually(() => p.doc.getMap('fields').get('email') === 'ada@example.com', WAIT, 'the provider got it');
    // One change: the provider applied one update, the same as the one answered.
    expect(updates).toHaveLength(1);
    expect(Buffer.from(updates[0] as Uint8Array).toString('base64')).toBe(res.body['update']);
    expect(p.doc.getText('body').toString()).toBe('> ello, world');
    expect(p.doc.getArray('tags').toJSON()).toEqual(['b', { c: 3 }]);
    expect(p.doc.getMap('fields').has('gone')).toBe(false);
    const json = (await s.api('GET', `/documents/${doc}`)).body['json'] as Record<string, Record<string, unknown>>;
    expect(Object.getOwnPropertyDescriptor(json['fields'], '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.getPrototypeOf(json['fields'])).toBe(Object.prototype);

    const before = (await s.api('GET', `/documents/${doc}`)).body['update'];
    const kind = await change([
      { op: 'map.set', root: 'other', key: 'k', value: 1 },
      { op: 'map.set', root: 'body', key: 'k', value: 1 },
    ]);
    expect(kind.status).toBe(409);
    expect((kind.body['error'] as { code: number }).code).toBe(ErrorCode.Conflict.code);
    const beyond = await change([
      { op: 'text.insert', root: 'body', text: 'x' },
      { op: 'text.delete', root: 'body', index: 10, length: 10 },
    ]);
    expect(beyond.status).toBe(422);
    expect((beyond.body['error'] as { code: number }).code).toBe(ErrorCode.InvalidUpdate.code);
    expect((await change([{ op: 'text.replace', root: 'body', text: 'x'.repeat(1500) }], `small:json-${n}`)).status).toBe(413);
    expect((await change([{ op: 'map.put', root: 'fields', key: 'k', value: 1 }])).status).toBe(400);
    expect((await change([])).status).toBe(400);
    expect((await s.api('GET', `/documents/${doc}`)).body['update']).toBe(before);
    expect(updates).toHaveLength(1);
  });

  it("keeps tenants apart: another tenant's key reads and lists its own documents of the same name, never this one's", async () => {
    const doc = name();
    const local = new Y.Doc();
    local.getText('body').insert(0, 'acme canary 9d1e');
    await s.api('POST', `/documents/${doc}/updates`, { body: { update: b64(Y.encodeStateAsUpdate(local)) } });
    const demo = await s.api('GET', `/documents/${doc}`, { tenant: 'demo' });
    expect(JSON.stringify(demo.body)).not.toContain('canary');
    const demoList = await s.api('GET', '/documents?limit=200', { tenant: 'demo' });
    expect(JSON.stringify(demoList.body)).not.toContain(doc);
  });

  it('lists documents with their size and connections, and shows who is in one (awareness), each answer complete from the one node', async () => {
    const doc = name();
    const quiet = name();
    const p = await provider(doc, 'ada');
    const q = await provider(doc, 'bob');
    p.provider.awareness.setLocalStateField('user', { name: 'ada' });
    q.provider.awareness.setLocalStateField('user', { name: 'bob' });
    p.doc.getText('body').insert(0, 'listed');
    const other = new Y.Doc();
    other.getText('body').insert(0, 'nobody here');
    expect((await s.api('POST', `/documents/${quiet}/updates`, { body: { update: b64(Y.encodeStateAsUpdate(other)) } })).status).toBe(200);
    type Listed = { name: string; bytes: number; connections: number };
    const list = async () => (await s.api('GET', '/documents?limit=200')).body;
    const row = async (d: string) => ((await list())['documents'] as Listed[]).find((r) => r.name === d);
    await eventually(
      async () => ((await row(doc))?.bytes ?? 0) > 0 && (await row(doc))?.connections === 2,
      WAIT,
      'the listed document with its two connections',
    );
    expect(await row(quiet)).toMatchObject({ connections: 0 });
    expect(await list()).toMatchObject({ complete: true, nodes: 1 });

    type States = Array<{ clientId: number; state: { user?: { name: string } } }>;
    const awareness = async (d: string) => (await s.api('GET', `/documents/${d}/awareness`)).body;
    const names = async () => ((await awareness(doc))['states'] as States).map((st) => `${st.clientId}:${st.state.user?.name}`);
    const expected = [
      [p.doc.clientID, 'ada'],
      [q.doc.clientID, 'bob'],
    ]
      .sort((x, y) => (x[0] as number) - (y[0] as number))
      .map(([id, who]) => `${id}:${who}`);
    await eventually(async () => (await names()).join() === expected.join(), WAIT, 'both awareness states, by client id');
    expect(await awareness(doc)).toMatchObject({ complete: true, nodes: 1 });
    expect(await awareness(quiet)).toEqual({ states: [], complete: true, nodes: 1 });

    q.destroy();
    await eventually(async () => (await row(doc))?.connections === 1, WAIT, 'one connection after bob left');
    expect(await names()).toEqual([`${p.doc.clientID}:ada`]);
  });

  it('deletes a document: a y-websocket provider is closed with 4404 and stops, a Hocuspocus one is refused, and the document is gone', async () => {
    const doc = name();
    const y = await provider(doc, 'ada');
    y.doc.getText('body').insert(0, 'to be deleted');
    const socket = new HocuspocusProviderWebsocket({ url: s.documentsUrl, WebSocketPolyfill: WebSocket, delay: 50, minDelay: 50, maxDelay: 200 });
    const failures: string[] = [];
    const hp = new HocuspocusProvider({
      websocketProvider: socket,
      name: doc,
      document: new Y.Doc(),
      token: () => s.current.token({ sub: 'bob' }),
      onAuthenticationFailed: ({ reason }) => failures.push(reason),
    });
    hp.attach();
    try {
      await eventually(() => hp.isSynced && hp.document.getText('body').toString() === 'to be deleted', WAIT, 'hocuspocus synced');
      await eventually(
        async () => ((await s.api('GET', '/documents?limit=200')).body['documents'] as Array<{ name: string }>).some((d) => d.name === doc),
        WAIT,
        'stored',
      );
      expect((await s.api('DELETE', `/documents/${doc}`)).status).toBe(200);
      await eventually(() => y.closes.length > 0, WAIT, 'the y-websocket close');
      expect(y.closes[0]?.code).toBe(DocumentCloseCode.Deleted.code);
      expect(y.provider.shouldConnect).toBe(false);
      await eventually(() => failures.length > 0, WAIT, 'the Hocuspocus refusal');
      expect(failures[0]).toBe('document deleted');
      const after = await s.api('GET', `/documents/${doc}`);
      expect(after.body['json']).toEqual({});
      expect((await s.api('DELETE', `/documents/${doc}`)).status).toBe(404);
    } finally {
      hp.destroy();
      socket.destroy();
    }
  });

  it('announces changes to the backend with a debounced document.updated webhook event, after they are stored', async () => {
    const doc = name();
    const created = await s.api('POST', '/webhooks/endpoints', { body: { url: receiver.url, events: ['document.updated'], channels: [] } });
    expect(created.status).toBe(201);
    receiver.secret = created.body['secret'] as string;
    const p = await provider(doc, 'ada');
    for (let i = 0; i < 10; i++) p.doc.getText('body').insert(0, `${i}`);
    const mine = () => receiver.events('document.updated').filter((r) => r.verified?.data['name'] === doc);
    await eventually(() => mine().reduce((sum, r) => sum + Number(r.verified?.data['updates']), 0) === 10, WAIT, 'events counting all ten changes');
    // Ten changes in one burst: one event (or two, should the burst straddle a debounce), counting all ten.
    expect(mine().length).toBeLessThanOrEqual(2);
    expect(Number(mine()[mine().length - 1]?.verified?.data['bytes'])).toBeGreaterThan(0);
  });
});
