import type { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { type DocumentEvents, type DocumentHandle, type DocumentStatus, type DocumentStatusEvent, documents } from '@switchboard/client/documents';
import { DocumentCloseCode, ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlockingProxy, startBlockingProxy } from '../../helpers/blocking-proxy.js';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';
import { connectedClient } from '../../helpers/sdk-client.js';
import { converged, DOCUMENT_SETUPS, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The SDK's documents module (`@switchboard/client/documents`) against a real server on both
 * stores, beside real y-websocket providers: a document opened over the SDK's one socket
 * (with a channel subscription on the same socket) converges with providers; `status` goes
 * syncing → synced once the server stored every change, and its event comes at every change
 * of status or unacknowledged count (offline edits too), never twice the same; edits made
 * offline are kept, merged on reconnect and stored once, and so are changes the server stored
 * whose acknowledgement was lost with the connection; awareness goes both ways; a document
 * the server refuses to open ends the handle (`closed`, `synced` rejects); a read-only token's changes and a
 * change under another user's part lock are refused with typed errors (103, 130), the latter
 * taken back in the SDK's copy.
 */
describe.each(DOCUMENT_SETUPS)('the documents SDK module on %s', (store) => {
  let s: DocumentsServer;
  let proxy: BlockingProxy;
  const pool = new ProviderPool(() => s);
  const cleanup: Array<() => void> = [];
  let n = 0;
  const CAPS = {
    'doc:*': ['subscribe', 'publish', 'presence', 'signal'],
    'form:*': ['subscribe', 'publish', 'presence', 'lock'],
    'project:*': ['subscribe', 'publish'],
  };

  beforeAll(async () => {
    s = await startDocumentsServer(store, {
      limits: { newConnectionsPerIpPerSecond: 10_000 },
      namespaces: {
        doc: { documents: true },
        form: { documents: { lockedParts: { field: 'fields' } }, locks: true, historySize: 0, clientPublish: false },
        project: {},
      },
    });
    proxy = await startBlockingProxy(s.current.port);
    proxy.allowUpgrades = true;
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    pool.destroyAll();
    await proxy?.close();
    await s?.stop();
  });

  const client = (user: string, caps: Record<string, string[]> = CAPS, viaProxy = false): Promise<SwitchboardClient> =>
    connectedClient(viaProxy ? proxy.url : s.current.url, () => s.current.token({ sub: user, caps }), cleanup);
  const c2s = (entries: Array<{ user: string; cursor: unknown; selection: string[] | null }>) =>
    entries.map((e) => `${e.user} ${JSON.stringify(e.cursor)} ${e.selection?.join(',') ?? '-'}`).sort();
  const stored = async (name: string) => (await s.api('GET', `/documents/${name}`)).body['json'] as Record<string, unknown>;
  const statuses = (h: DocumentHandle) => {
    const seen: DocumentStatus[] = [];
    h.on('status', (e) => seen.push(e.status));
    return seen;
  };
  const errors = (h: DocumentHandle) => {
    const seen: SwitchboardError[] = [];
    h.on('error', (e) => seen.push(e.error));
    return seen;
  };

  it('syncs with providers over the one socket beside a channel subscription: synced means stored, and both see each other', async () => {
    const name = `doc:sdk-${++n}`;
    const p = await pool.provider(name, 'ada');
    p.doc.getText('body').insert(0, 'from the provider. ');
    const c = await client('bob');
    const sub = c.subscribe('project:side');
    const h = documents(c).open(name);
    const seen = statuses(h);
    await h.synced;
    expect(h.status).toBe('synced');
    expect(h.doc.getText('body').toString()).toBe('from the provider. ');
    expect(documents(c).open(name)).toBe(h);
    h.doc.getText('body').insert(0, 'from the SDK. ');
    expect(h.unacknowledged).toBe(1);
    await eventually(() => h.status === 'synced' && h.unacknowledged === 0, WAIT, 'acknowledged');
    expect(seen).toContain('syncing');
    expect((await stored(name))['body']).toBe('from the SDK. from the provider. ');
    await converged([p.doc, h.doc], 'the provider has it');
    // The channel on the same socket still works.
    const got = new Promise((r) => sub.on('publication', (e) => r(e.data)));
    await eventually(() => sub.state === 'subscribed', WAIT, 'subscribed');
    await c.publish('project:side', { hi: 1 });
    expect(await got).toEqual({ hi: 1 });

    // Awareness both ways.
    h.awareness.setLocalStateField('user', { name: 'bob' });
    p.provider.awareness.setLocalStateField('user', { name: 'ada' });
    const names = (a: { getStates(): Map<number, Record<string, unknown>> }) =>
      [...a.getStates().values()]
        .map((st) => (st['user'] as { name?: string } | undefined)?.name)
        .filter(Boolean)
        .sort()
        .join();
    await eventually(() => names(p.provider.awareness) === 'ada,bob' && names(h.awareness) === 'ada,bob', WAIT, 'awareness both ways');
    h.close();
    await eventually(() => names(p.provider.awareness) === 'ada', WAIT, "bob's state gone with the close");
  });

  it('keeps edits made offline and merges them on reconnect with what others wrote meanwhile: every client converges, the store holds each change once', async () => {
    const name = `doc:sdk-${++n}`;
    const p = await pool.provider(name, 'ada');
    p.doc.getText('body').insert(0, 'base.');
    const c = await client('bob', CAPS, true);
    const h = documents(c).open(name);
    await h.synced;
    await eventually(() => h.doc.getText('body').toString() === 'base.', WAIT, 'the base');
    proxy.allowUpgrades = false;
    const lost = new Promise((r) => c.once('reconnecting', r));
    proxy.cut();
    await lost;
    expect(h.status).toBe('offline');
    h.doc.getText('body').insert(5, ' bob offline.');
    h.doc.getMap('fields').set('owner', 'bob');
    expect(h.unacknowledged).toBe(2);
    p.doc.getText('body').insert(0, 'ada online. ');
    p.doc.getMap('fields').set('status', 'draft');
    const back = new Promise((r) => c.once('connected', r));
    proxy.allowUpgrades = true;
    await back;
    await eventually(() => h.status === 'synced' && h.unacknowledged === 0, WAIT, 'synced again');
    await converged([p.doc, h.doc], 'converged after the reconnect');
    const text = p.doc.getText('body').toString();
    expect(text).toContain('ada online. ');
    expect(text).toContain(' bob offline.');
    await s.restart();
    const json = await stored(name);
    expect(json['body']).toBe(text);
    expect((json['body'] as string).split('bob offline').length).toBe(2);
    expect(json['fields']).toEqual({ owner: 'bob', status: 'draft' });
  });

  it('emits a status event at every change of status or unacknowledged count, offline edits included, and none when nothing changed', async () => {
    const name = `doc:sdk-${++n}`;
    const other = documents(await client('ada')).open(name);
    // A proxy of its own: the server of the test above restarted on another port.
    const link = await startBlockingProxy(s.current.port);
    link.allowUpgrades = true;
    cleanup.push(() => void link.close());
    const c = await connectedClient(link.url, () => s.current.token({ sub: 'bob', caps: CAPS }), cleanup);
    const h = documents(c).open(name);
    const events: string[] = [];
    const record = (e: DocumentStatusEvent) => events.push(`${e.status} ${e.unacknowledged}`);
    h.on('status', record);
    await h.synced;
    link.allowUpgrades = false;
    const lost = new Promise((r) => c.once('reconnecting', r));
    link.cut();
    await lost;
    const body = h.doc.getText('body');
    for (const word of ['one. ', 'two. ', 'three. ']) body.insert(body.length, word);
    expect(events).toEqual(['synced 0', 'offline 0', 'offline 1', 'offline 2', 'offline 3']);
    link.allowUpgrades = true;
    await eventually(() => h.status === 'synced', WAIT, 'synced after the reconnect');
    expect(events.slice(5)).toEqual(['syncing 3', 'synced 0']);
    await eventually(() => other.doc.getText('body').toString() === 'one. two. three. ', WAIT, 'the other client has the three edits');
    // Online: counted at once, then acknowledged.
    body.insert(0, 'four. ');
    await eventually(() => h.status === 'synced', WAIT, 'the online edit acknowledged');
    expect(events.slice(7)).toEqual(['syncing 1', 'synced 0']);
    expect({ status: h.status, unacknowledged: h.unacknowledged }).toEqual({ status: 'synced', unacknowledged: 0 });
  });

  it('reaches synced with 0 after a reconnect when the server stored a change whose acknowledgement was lost with the connection, and holds it once', async () => {
    const name = `doc:sdk-${++n}`;
    const other = documents(await client('ada')).open(name);
    const link = await startBlockingProxy(s.current.port);
    link.allowUpgrades = true;
    cleanup.push(() => void link.close());
    const c = await connectedClient(link.url, () => s.current.token({ sub: 'bob', caps: CAPS }), cleanup);
    const h = documents(c).open(name);
    await h.synced;
    const events: string[] = [];
    h.on('status', (e) => events.push(`${e.status} ${e.unacknowledged}`));
    // The server's answers wait in the link: the change reaches the server, its acknowledgement never reaches the client.
    link.holdReplies = true;
    h.doc.getText('body').insert(0, 'sent once. ');
    await eventually(async () => (await stored(name))['body'] === 'sent once. ', WAIT, 'the server has the change');
    await eventually(() => other.doc.getText('body').toString() === 'sent once. ', WAIT, 'stored and relayed to the other client');
    expect({ status: h.status, unacknowledged: h.unacknowledged }).toEqual({ status: 'syncing', unacknowledged: 1 });
    const lost = new Promise((r) => c.once('reconnecting', r));
    link.cut();
    link.holdReplies = false;
    await lost;
    // On reconnect the server lacks nothing of the client's: still, the change must end acknowledged.
    await eventually(() => h.status === 'synced' && h.unacknowledged === 0, WAIT, 'synced with 0 after the reconnect');
    expect(events).toEqual(['syncing 1', 'offline 1', 'syncing 1', 'synced 0']);
    expect((await stored(name))['body']).toBe('sent once. ');
    expect(other.doc.getText('body').toString()).toBe('sent once. ');
    expect(h.doc.getText('body').toString()).toBe('sent once. ');
  });

  it('ends a handle the server refuses to open for good (a token that may not read it): error, then closed with the typed error, and synced rejects', async () => {
    const c = await client('mallory', { 'doc:allowed': ['subscribe'] });
    const h = documents(c).open('doc:refused');
    const errs = errors(h);
    const closed = new Promise<DocumentEvents['closed']>((r) => h.once('closed', r));
    await expect(h.synced).rejects.toMatchObject({ code: ErrorCode.PermissionDenied.code });
    const event = await closed;
    expect({ code: event.code, error: event.error?.code }).toEqual({ code: DocumentCloseCode.Forbidden.code, error: ErrorCode.PermissionDenied.code });
    expect(errs.map((e) => e.code)).toEqual([ErrorCode.PermissionDenied.code]);
    expect(h.status).toBe('offline');
    // The handle is gone: opening the name again makes a new one.
    const again = documents(c).open('doc:refused');
    expect(again).not.toBe(h);
    await expect(again.synced).rejects.toMatchObject({ code: ErrorCode.PermissionDenied.code });
  });

  it('refuses a read-only token’s changes (103) and a change under another user’s part lock (130, taken back); both reach nobody', async () => {
    const name = `doc:sdk-${++n}`;
    const p = await pool.provider(name, 'ada');
    p.doc.getText('body').insert(0, 'kept');
    const reader = await client('rita', { 'doc:*': ['subscribe'] });
    const r = documents(reader).open(name);
    const rErrors = errors(r);
    await eventually(() => r.doc.getText('body').toString() === 'kept', WAIT, 'the reader has it');
    expect(r.writable).toBe(false);
    r.doc.getText('body').insert(0, 'nope ');
    // Refused each time it is sent (a resync under load may send it again): never anything but 103.
    await eventually(() => rErrors.length >= 1, WAIT, 'refused');
    expect(rErrors.map((e) => e.code)).toEqual(rErrors.map(() => ErrorCode.PermissionDenied.code));
    expect((await stored(name))['body']).toBe('kept');

    const form = `form:sdk-${++n}`;
    const ann = await pool.provider(form, 'ann', { caps: CAPS });
    ann.doc.getMap('fields').set('email', 'ann@example.com');
    const locker = await RawClient.connect(s.current.url, await s.current.token({ sub: 'ann', caps: CAPS }));
    cleanup.push(() => locker.terminate());
    expect((await locker.call('locks.acquire', { channel: form, key: 'field:email' })).error).toBeUndefined();
    const c = await client('bob');
    const h = documents(c).open(form);
    const hErrors = errors(h);
    await eventually(() => h.doc.getMap('fields').get('email') === 'ann@example.com', WAIT, 'bob has it');
    h.doc.getMap('fields').set('email', 'bob@example.com');
    await eventually(() => hErrors.length === 1, WAIT, 'the locked error');
    expect(hErrors[0]?.code).toBe(ErrorCode.Locked.code);
    expect(hErrors[0]?.data).toEqual({ key: 'field:email' });
    await eventually(() => h.doc.getMap('fields').get('email') === 'ann@example.com', WAIT, "bob's copy taken back");
    expect(ann.doc.getMap('fields').get('email')).toBe('ann@example.com');
    // The next change to a free key goes through.
    h.doc.getMap('fields').set('name', 'Bob');
    await eventually(() => ann.doc.getMap('fields').get('name') === 'Bob', WAIT, 'a free key');
    await eventually(() => h.status === 'synced', WAIT, 'synced');
  });

  it('cursors and selections over the document channel: latest value per connection, throttled to the last one, gone when the connection goes', async () => {
    const name = `doc:sdk-${++n}`;
    const bob = await client('bob');
    const carl = await client('carl');
    const dan = await client('dan');
    const seen = documents(carl).open(name).cursors;
    seen.follow();
    const bobs = documents(bob).open(name).cursors;
    const dans = documents(dan).open(name).cursors;
    await eventually(() => c2s(seen.entries).length === 0, WAIT, 'nothing yet');
    for (let i = 0; i <= 50; i++) bobs.set({ x: i, y: i * 2 });
    bobs.select(['node-7', 'node-9']);
    dans.set({ anchor: 3, head: 8 });
    await eventually(
      () => c2s(seen.entries).join(';') === 'bob {"x":50,"y":100} node-7,node-9;dan {"anchor":3,"head":8} -',
      WAIT,
      'the latest cursor and selection of each',
    );
    bob.disconnect();
    await eventually(() => c2s(seen.entries).join(';') === 'dan {"anchor":3,"head":8} -', WAIT, "bob's entry gone with his connection");
  });

  it('opens documents the token may not read, or outside document namespaces, with a typed error and nothing created', async () => {
    const c = await client('eve', { 'doc:allowed': ['subscribe'] });
    const h = documents(c).open('doc:secret');
    const errs = errors(h);
    await eventually(() => errs.length === 1, WAIT, 'refused');
    expect(errs[0]?.code).toBe(ErrorCode.PermissionDenied.code);
    const other = documents(c).open('project:1');
    const otherErrs = errors(other);
    await eventually(() => otherErrs.length === 1, WAIT, 'not a document');
    expect(otherErrs[0]?.code).toBe(ErrorCode.NotAvailable.code);
    const list = (await s.api('GET', '/documents?limit=200')).body['documents'] as Array<{ name: string }>;
    expect(list.map((d) => d.name)).not.toContain('doc:secret');
  });
});
