import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import type { PresenceEvent, PresenceMember, SwitchboardClient } from '@switchboard/client';
import { documents } from '@switchboard/client/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { connectedClient } from '../../helpers/sdk-client.js';
import { type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * Who is in a document is one presence query: the awareness users of real y-websocket and
 * Hocuspocus providers and of SDK handles appear in the presence of the document's channel,
 * one member per user with a device per connection, their awareness state (cursor,
 * selection) as the device's state, and they leave it when their connection goes.
 */
describe('awareness users in the presence of the document channel', () => {
  let s: DocumentsServer;
  let n = 0;
  const name = () => `doc:who-${++n}`;
  const pool = new ProviderPool(() => s);
  const cleanup: Array<() => void> = [];
  const CAPS = { 'doc:*': ['subscribe', 'publish', 'presence'] };

  beforeAll(async () => {
    s = await startDocumentsServer('sqlite', { limits: { maxPresenceStateBytes: 300 } });
  });
  afterAll(async () => {
    pool.destroyAll();
    for (const c of cleanup.splice(0)) c();
    await s?.stop();
  });

  /** An SDK client subscribed to the document's channel, recording presence events. */
  async function watcher(
    doc: string,
  ): Promise<{ client: SwitchboardClient; members(): Promise<PresenceMember[]>; stats(): Promise<unknown>; events: string[] }> {
    const client = await connectedClient(s.current.url, () => s.current.token({ sub: 'watcher', caps: CAPS }), cleanup);
    const sub = client.subscribe(doc);
    const events: string[] = [];
    const note = (kind: string) => (e: PresenceEvent) => events.push(`${kind}:${e.user}:${e.device.client}`);
    sub.on('join', note('join'));
    sub.on('leave', note('leave'));
    await new Promise((r) => sub.once('subscribed', r));
    return { client, members: () => sub.presence() as Promise<PresenceMember[]>, stats: () => sub.presenceStats(), events };
  }

  const byUser = (members: PresenceMember[], user: string) => members.find((m) => m.user === user);
  const awarenessOf = (device: { state: unknown }) => (device.state as { awareness?: Record<string, unknown> } | null)?.awareness;

  it('y-websocket and Hocuspocus providers and an SDK handle are members with their awareness state; a user on two connections is one member with two devices; each leaves when it goes', async () => {
    const doc = name();
    const w = await watcher(doc);
    const ada = await pool.provider(doc, 'ada');
    ada.provider.awareness.setLocalState({ user: { name: 'Ada' }, cursor: { anchor: 1, head: 4 } });

    const socket = new HocuspocusProviderWebsocket({ url: s.documentsUrl, WebSocketPolyfill: WebSocket, delay: 50, minDelay: 50, maxDelay: 200 });
    const hocusDoc = new Y.Doc();
    const hocus = new HocuspocusProvider({
      websocketProvider: socket,
      name: doc,
      document: hocusDoc,
      token: () => s.current.token({ sub: 'ada', caps: CAPS }),
    });
    hocus.attach();
    cleanup.push(() => {
      hocus.destroy();
      socket.destroy();
    });
    hocus.setAwarenessField('user', { name: 'Ada on a tablet' });

    const sdk = await connectedClient(s.current.url, () => s.current.token({ sub: 'bob', caps: CAPS }), cleanup);
    const handle = documents(sdk).open(doc);
    await handle.synced;
    handle.awareness.setLocalState({ user: { name: 'Bob' }, selection: ['node-7', 'node-9'] });

    await eventually(
      async () => {
        const members = await w.members();
        return byUser(members, 'ada')?.devices.length === 2 && byUser(members, 'bob')?.devices.length === 1;
      },
      WAIT,
      'ada with two devices and bob with one',
    );
    const members = await w.members();
    const adaStates = (byUser(members, 'ada') as PresenceMember).devices.map((d) => awarenessOf(d));
    expect(adaStates).toContainEqual({ user: { name: 'Ada' }, cursor: { anchor: 1, head: 4 } });
    expect(adaStates.some((a) => (a?.['user'] as { name?: string } | undefined)?.name === 'Ada on a tablet')).toBe(true);
    expect(awarenessOf((byUser(members, 'bob') as PresenceMember).devices[0] as { state: unknown })).toEqual({
      user: { name: 'Bob' },
      selection: ['node-7', 'node-9'],
    });
    expect(await w.stats()).toEqual({ users: 2, connections: 3 });
    expect(w.events.filter((e) => e.startsWith('join:'))).toHaveLength(3);

    // A cursor that moves is followed (at most once a second, the last state always).
    ada.provider.awareness.setLocalStateField('cursor', { anchor: 9, head: 9 });
    await eventually(
      async () => (await w.members()).some((m) => m.devices.some((d) => JSON.stringify(awarenessOf(d)?.['cursor']) === '{"anchor":9,"head":9}')),
      WAIT,
      "ada's new cursor in presence",
    );

    // Each leaves as its connection goes: the provider at once, the SDK handle on close.
    ada.destroy();
    await eventually(async () => byUser(await w.members(), 'ada')?.devices.length === 1, WAIT, "ada's y-websocket device gone");
    handle.close();
    await eventually(async () => byUser(await w.members(), 'bob') === undefined, WAIT, 'bob gone');
    hocus.destroy();
    await eventually(async () => (await w.members()).length === 0, WAIT, 'nobody left');
    expect(w.events.filter((e) => e.startsWith('leave:'))).toHaveLength(3);
  });

  it('a provider without the presence capability, or one that shares no state, is not a member; a state above the presence limit keeps only its user', async () => {
    const doc = name();
    const w = await watcher(doc);
    const quiet = await pool.provider(doc, 'quiet', { caps: { 'doc:*': ['subscribe', 'publish'] } });
    quiet.provider.awareness.setLocalState({ user: { name: 'Quiet' } });
    const idle = await pool.provider(doc, 'idle');
    idle.provider.awareness.setLocalState(null);
    const big = await pool.provider(doc, 'big');
    big.provider.awareness.setLocalState({ user: { name: 'Big' }, cursor: { anchor: 'x'.repeat(1000) } });
    await eventually(async () => byUser(await w.members(), 'big') !== undefined, WAIT, 'big in presence');
    const members = await w.members();
    expect(members.map((m) => m.user)).toEqual(['big']);
    expect(awarenessOf((members[0] as PresenceMember).devices[0] as { state: unknown })).toEqual({ user: { name: 'Big' } });

    // A state set to null leaves presence; a new one joins again.
    big.provider.awareness.setLocalState(null);
    await eventually(async () => (await w.members()).length === 0, WAIT, 'big left with its state');
    big.provider.awareness.setLocalState({ user: { name: 'Big again' } });
    await eventually(async () => byUser(await w.members(), 'big') !== undefined, WAIT, 'big back');
  });

  it('a full channel refuses the awareness member but not the awareness', async () => {
    const doc = name();
    const w = await watcher(doc);
    // A stored tenant quota: one presence member per channel (the watcher is none: it did not enter).
    const set = await s.api('PUT', '/tenants/acme/quotas', { body: { presenceMembers: 1 } });
    expect(set.status).toBe(200);
    const a = await pool.provider(doc, 'ann');
    a.provider.awareness.setLocalState({ user: { name: 'Ann' } });
    await eventually(async () => byUser(await w.members(), 'ann') !== undefined, WAIT, 'ann in presence');
    const b = await pool.provider(doc, 'ben');
    b.provider.awareness.setLocalState({ user: { name: 'Ben' } });
    await eventually(
      () => (a.provider.awareness.getStates().get(b.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Ben',
      WAIT,
      "ben's state reaches ann",
    );
    expect((await w.members()).map((m) => m.user)).toEqual(['ann']);
    expect(await s.api('DELETE', '/tenants/acme/quotas')).toMatchObject({ status: 200 });
  });
});
