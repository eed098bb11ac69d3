import { SwitchboardClient, type SwitchboardError } from '@switchboard/client';
import { documents } from '@switchboard/client/documents';
import { ErrorCode } from '@switchboard/protocol';
import type { DocumentChangeEvent, DocumentsService, StoreDocumentEvent } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../../helpers/eventually.js';
import { type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The documents hooks an app that embeds the server registers (`server.feature<DocumentsService>('documents')`),
 * with real providers and the SDK on SQLite: onAuthorizeDocument refuses (4403 for a
 * provider, 103 for the SDK), onLoadDocument seeds a new document once (stored, not run
 * again after a restart) and a failing one fails the load (1011; the SDK, told 100 temporary,
 * opens again after a pause until the load succeeds), onChange sees each change
 * with its user in registration order (a throwing hook changes nothing), onStoreDocument sees
 * the log numbers in order, beforeBroadcast sees what goes to the connections.
 */
describe('documents hooks for embedding apps', () => {
  let s: DocumentsServer;
  const pool = new ProviderPool(() => s);
  const cleanup: Array<() => void> = [];
  const service = () => s.current.server.feature<DocumentsService>('documents');
  const log: string[] = [];
  const changes: Array<DocumentChangeEvent & { hook: string }> = [];
  const stores: StoreDocumentEvent[] = [];
  const broadcasts: Array<{ name: string; connections: number }> = [];
  let loads: string[] = [];
  /** Loads of doc:hooks-flaky that fail before one succeeds. */
  let flakyLoads = 0;

  const register = () => {
    const docs = service();
    docs.onAuthorizeDocument(({ name, user, via, write }) => {
      log.push(`authorize ${via} ${user} ${name} ${write ? 'rw' : 'r'}`);
      return !(name === 'doc:hooks-blocked' && user === 'eve');
    });
    docs.onLoadDocument(async ({ name, doc }) => {
      loads.push(name);
      if (name === 'doc:hooks-broken') throw new Error('the legacy database is down');
      if (name === 'doc:hooks-flaky' && flakyLoads-- > 0) throw new Error('the legacy database is down for now');
      if (name.startsWith('doc:hooks-seeded')) doc.getText('body').insert(0, `seeded from the app: ${name}`);
    });
    docs.onChange((e) => changes.push({ ...e, hook: 'first' }));
    docs.onChange(() => {
      throw new Error('a broken observer');
    });
    docs.onChange((e) => changes.push({ ...e, hook: 'second' }));
    docs.onStoreDocument((e) => stores.push(e));
    docs.beforeBroadcast((e) => broadcasts.push({ name: e.name, connections: e.connections }));
  };

  beforeAll(async () => {
    s = await startDocumentsServer('sqlite', { limits: { newConnectionsPerIpPerSecond: 10_000 } });
    register();
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    pool.destroyAll();
    await s?.stop();
  });

  it('onAuthorizeDocument refuses a provider (4403) and the SDK (103); others open', async () => {
    const eve = await pool.provider('doc:hooks-blocked', 'eve', { awaitSync: false });
    await eventually(() => eve.closes.length > 0, WAIT, "eve's provider closed");
    expect(eve.closes[0]?.code).toBe(4403);
    const ann = await pool.provider('doc:hooks-blocked', 'ann');
    expect(ann.provider.synced).toBe(true);
    const c = new SwitchboardClient(s.current.url, { getToken: () => s.current.token({ sub: 'eve' }), WebSocket, transports: ['websocket'] });
    cleanup.push(() => c.disconnect());
    const ready = new Promise((r) => c.once('connected', r));
    c.connect();
    await ready;
    const h = documents(c).open('doc:hooks-blocked');
    const refused = await new Promise<SwitchboardError>((r) => h.on('error', (e) => r(e.error)));
    expect(refused.code).toBe(ErrorCode.PermissionDenied.code);
    expect(log).toEqual(
      expect.arrayContaining([
        'authorize provider eve doc:hooks-blocked rw',
        'authorize provider ann doc:hooks-blocked rw',
        'authorize sdk eve doc:hooks-blocked rw',
      ]),
    );
  });

  it('onLoadDocument seeds a new document once: the seed is stored and the hook is not asked again after a restart; a failing hook fails the load (1011)', async () => {
    const name = 'doc:hooks-seeded-1';
    loads = [];
    const p = await pool.provider(name, 'ann');
    expect(p.doc.getText('body').toString()).toBe(`seeded from the app: ${name}`);
    expect(loads).toEqual([name]);
    await eventually(async () => ((await s.api('GET', `/documents/${name}`)).body['json'] as { body?: string })['body'] !== undefined, WAIT, 'stored');
    pool.destroyAll();
    await s.restart();
    register();
    loads = [];
    const again = await pool.provider(name, 'ann');
    expect(again.doc.getText('body').toString()).toBe(`seeded from the app: ${name}`);
    expect(loads).toEqual([]);

    const broken = await pool.provider('doc:hooks-broken', 'ann', { awaitSync: false });
    await eventually(() => broken.closes.length > 0, WAIT, 'the load failed');
    expect(broken.closes[0]?.code).toBe(1011);
  });

  it('a load that fails for now (a throwing onLoadDocument: 100, temporary) is retried by the SDK until the document opens', async () => {
    flakyLoads = 2;
    const c = new SwitchboardClient(s.current.url, { getToken: () => s.current.token({ sub: 'ann' }), WebSocket, transports: ['websocket'] });
    cleanup.push(() => c.disconnect());
    const ready = new Promise((r) => c.once('connected', r));
    c.connect();
    await ready;
    const h = documents(c).open('doc:hooks-flaky');
    const errors: SwitchboardError[] = [];
    h.on('error', (e) => errors.push(e.error));
    h.doc.getText('body').insert(0, 'kept while the load failed. ');
    await h.synced;
    expect(errors.map((e) => [e.code, e.temporary])).toEqual([
      [ErrorCode.Internal.code, true],
      [ErrorCode.Internal.code, true],
    ]);
    expect({ status: h.status, unacknowledged: h.unacknowledged }).toEqual({ status: 'synced', unacknowledged: 0 });
    const json = (await s.api('GET', '/documents/doc:hooks-flaky')).body['json'] as { body?: string };
    expect(json.body).toBe('kept while the load failed. ');
  });

  it('onChange sees each change with its user, in registration order, past a throwing hook; onStoreDocument the log numbers in order; beforeBroadcast the connections', async () => {
    const name = 'doc:hooks-changes';
    const ann = await pool.provider(name, 'ann');
    await pool.provider(name, 'bob');
    changes.length = 0;
    stores.length = 0;
    broadcasts.length = 0;
    ann.doc.getText('body').insert(0, 'one');
    ann.doc.getText('body').insert(3, ' two');
    await eventually(() => changes.filter((c) => c.hook === 'second').length === 2, WAIT, 'two changes');
    expect(changes.map((c) => `${c.hook} ${c.user} ${c.name}`)).toEqual([`first ann ${name}`, `second ann ${name}`, `first ann ${name}`, `second ann ${name}`]);
    const res = await s.api('POST', `/documents/${name}/changes`, { body: { ops: [{ op: 'map.set', root: 'fields', key: 'by', value: 'the backend' }] } });
    expect(res.status).toBe(200);
    expect(changes.at(-1)).toMatchObject({ hook: 'second', user: null, name });
    await eventually(() => stores.reduce((n, e) => n + e.updates, 0) === 3, WAIT, 'three stored');
    // Numbers follow each other from 1.
    expect(stores.flatMap((e) => [e.from, e.to])[0]).toBe(1);
    for (let i = 1; i < stores.length; i++) expect(stores[i]?.from).toBe((stores[i - 1]?.to as number) + 1);
    // ann's and bob's providers (and, for the HTTP change, the request's own hold on the document).
    expect(broadcasts.filter((b) => b.name === name).map((b) => b.connections)).toEqual([2, 2, 3]);
    expect(broadcasts.filter((b) => b.name === name)).toHaveLength(3);
  });
});
