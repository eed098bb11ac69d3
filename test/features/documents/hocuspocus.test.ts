import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { converged, DOCUMENT_SETUPS, type DocumentsServer, metric, type OpenProvider, openProvider, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The documents endpoint with real Hocuspocus providers (`@hocuspocus/provider` from npm,
 * unchanged) on both stores, beside y-websocket providers on the same documents: several
 * documents over one socket, per-document authentication and scope, `SyncStatus`
 * acknowledgements that mean stored (withheld while the store fails), and a token refreshed
 * over the open socket.
 */

interface Hocus {
  socket: HocuspocusProviderWebsocket;
  providers: HocuspocusProvider[];
  failures: string[];
  scopes: string[];
}

describe.each(DOCUMENT_SETUPS)('Hocuspocus providers on %s', (store) => {
  let s: DocumentsServer;
  const sockets: Hocus[] = [];
  const ywebsockets: OpenProvider[] = [];
  let n = 0;
  const name = () => `doc:hocus-${++n}`;

  beforeAll(async () => {
    s = await startDocumentsServer(store, { auth: { clockSkew: '0s' } });
  });
  afterAll(async () => {
    for (const h of sockets) close(h);
    for (const p of ywebsockets) p.destroy();
    await s?.stop();
  });

  /**
   * Destroy a socket and its providers. A socket still connecting (its server restarted)
   * reports the abort as an error event: the test does not care, so it is heard here.
   */
  function close(h: Hocus): void {
    for (const p of h.providers) p.destroy();
    (h.socket as unknown as { webSocket: { on?(event: 'error', listener: () => void): void } | null }).webSocket?.on?.('error', () => {});
    h.socket.destroy();
  }

  /** One socket with a provider per name, each with its own token (a function: asked again when the server wants a fresh one). */
  function connect(names: string[], token: (name: string) => Promise<string>, docs: Y.Doc[] = names.map(() => new Y.Doc())): Hocus {
    const socket = new HocuspocusProviderWebsocket({ url: s.documentsUrl, WebSocketPolyfill: WebSocket, delay: 50, minDelay: 50, maxDelay: 200 });
    const h: Hocus = { socket, providers: [], failures: [], scopes: [] };
    names.forEach((docName, i) => {
      const provider = new HocuspocusProvider({
        websocketProvider: socket,
        name: docName,
        document: docs[i] as Y.Doc,
        token: () => token(docName),
        onAuthenticationFailed: ({ reason }) => h.failures.push(`${docName}: ${reason}`),
        onAuthenticated: ({ scope }) => h.scopes.push(`${docName}: ${scope}`),
      });
      provider.attach();
      h.providers.push(provider);
    });
    sockets.push(h);
    return h;
  }

  const tokenOf =
    (sub: string, caps: Record<string, string[]> = { 'doc:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds = 3600) =>
    () =>
      s.current.token({ sub, caps, ttlSeconds });

  it('a Hocuspocus and a y-websocket provider converge on one document; each change is acknowledged once stored, and it is there after a restart', async () => {
    const doc = name();
    const h = connect([doc], tokenOf('ada'));
    const hp = h.providers[0] as HocuspocusProvider;
    await eventually(() => hp.isSynced, WAIT, 'the Hocuspocus provider synced');
    expect(h.scopes).toEqual([`${doc}: read-write`]);
    const y = await openProvider(s, doc, 'bob');
    ywebsockets.push(y);
    for (let i = 0; i < 20; i++) hp.document.getText('body').insert(0, `h${i} `);
    y.doc.getText('body').insert(0, 'from y-websocket. ');
    await converged([hp.document, y.doc], 'both providers');
    await eventually(() => hp.unsyncedChanges === 0, WAIT, 'every change acknowledged');
    const text = hp.document.getText('body').toString();
    close(h);
    await s.restart();
    const fresh = await openProvider(s, doc, 'carol');
    ywebsockets.push(fresh);
    expect(fresh.doc.getText('body').toString()).toBe(text);
  });

  it('opens several documents over one socket, each with its own token: one refused (PermissionDenied) while the others sync, and a read-only one says readonly and refuses writes', async () => {
    const [open1, forbidden, readOnly] = [name(), 'project:1', name()];
    const seed = await openProvider(s, readOnly, 'seed');
    ywebsockets.push(seed);
    seed.doc.getText('body').insert(0, 'seeded');
    const h = connect([open1, forbidden, readOnly], async (docName) =>
      s.current.token({ sub: 'ada', caps: docName === readOnly ? { 'doc:*': ['subscribe'] } : { 'doc:*': ['subscribe', 'publish'] } }),
    );
    const [p1, , pr] = h.providers as [HocuspocusProvider, HocuspocusProvider, HocuspocusProvider];
    await eventually(() => p1.isSynced && pr.isSynced, WAIT, 'the permitted documents synced');
    await eventually(() => h.failures.length === 1, WAIT, 'the refusal');
    expect(h.failures[0]).toMatch(/^project:1: forbidden/);
    expect(h.scopes.sort()).toEqual([`${open1}: read-write`, `${readOnly}: readonly`].sort());
    expect(pr.document.getText('body').toString()).toBe('seeded');
    // A read-only write is refused (SyncStatus false): it stays unsynced, and nobody else sees it.
    const refused = await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}');
    pr.document.getText('body').insert(0, 'NOT ');
    p1.document.getText('body').insert(0, 'fine');
    await eventually(() => p1.unsyncedChanges === 0, WAIT, 'the writable document acknowledged');
    await eventually(
      async () => (await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}')) > refused,
      WAIT,
      'the read-only write refused',
    );
    expect(pr.unsyncedChanges).toBeGreaterThan(0);
    seed.doc.getText('body').insert(6, '!');
    await eventually(() => pr.document.getText('body').toString().endsWith('!'), WAIT, 'later changes still reach the reader');
    expect(seed.doc.getText('body').toString()).toBe('seeded!');
  });

  it('asks for a fresh token before expiry over the open socket, and follows what the new one allows (read-write → readonly)', async () => {
    const doc = name();
    let issued = 0;
    const h = connect([doc], async () => {
      issued++;
      // The first token may write and lives 2 s; the next one only reads.
      return issued === 1
        ? s.current.token({ sub: 'ada', caps: { 'doc:*': ['subscribe', 'publish'] }, ttlSeconds: 2 })
        : s.current.token({ sub: 'ada', caps: { 'doc:*': ['subscribe'] } });
    });
    const p = h.providers[0] as HocuspocusProvider;
    await eventually(() => p.isSynced, WAIT, 'synced');
    await eventually(() => h.scopes.length === 2, WAIT, 'the second authentication');
    expect(h.scopes).toEqual([`${doc}: read-write`, `${doc}: readonly`]);
    expect(h.failures).toEqual([]);
    const before = await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}');
    p.document.getText('body').insert(0, 'late');
    await eventually(async () => (await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}')) > before, WAIT, 'the write refused');
  });

  it.runIf(store !== 'sqlite')(
    'withholds acknowledgements while the log cannot be written, and gives them once it can: unsynced changes stay visible, none lost',
    async () => {
      const doc = name();
      const h = connect([doc], tokenOf('ada'));
      const p = h.providers[0] as HocuspocusProvider;
      await eventually(() => p.isSynced, WAIT, 'synced');
      const schema = s.db.schema as string;
      const admin = await s.admin();
      const failures = await metric(s, 'switchboard_document_store_failures_total');
      await admin.query(`ALTER TABLE ${schema}.sb_document_updates RENAME TO sb_document_updates_away`);
      try {
        for (let i = 0; i < 5; i++) p.document.getText('body').insert(0, `${i}`);
        await eventually(async () => (await metric(s, 'switchboard_document_store_failures_total')) > failures, WAIT, 'a failed write');
        expect(p.unsyncedChanges).toBeGreaterThan(0);
      } finally {
        await admin.query(`ALTER TABLE ${schema}.sb_document_updates_away RENAME TO sb_document_updates`);
        await admin.end();
      }
      await eventually(() => p.unsyncedChanges === 0, WAIT, 'acknowledged after the retry');
      const text = p.document.getText('body').toString();
      close(h);
      await s.restart();
      const fresh = await openProvider(s, doc, 'bob');
      ywebsockets.push(fresh);
      expect(fresh.doc.getText('body').toString()).toBe(text);
    },
  );
});
