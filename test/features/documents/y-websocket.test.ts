import { DocumentCloseCode } from '@switchboard/protocol';
import { applyChecked } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { seeded } from '../../helpers/seeded.js';
import { converged, DOCUMENT_SETUPS, type DocumentsServer, metric, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The documents endpoint with real y-websocket providers (the npm package, unchanged) on
 * both stores: sync and convergence, storage across restarts and compaction, capabilities,
 * tenants, and a corrupt update that changes nothing.
 */
describe.each(DOCUMENT_SETUPS)('y-websocket providers on %s', (store) => {
  let s: DocumentsServer;
  let n = 0;
  const name = () => `doc:sync-${++n}`;
  const pool = new ProviderPool(() => s);
  const { provider, open } = pool;

  beforeAll(async () => {
    s = await startDocumentsServer(store, {
      auth: { clockSkew: '0s' },
      documents: { compactAfter: 10, compactInterval: '0s', groupCommit: 0, idleUnload: '100ms', messagesPerSecond: 100 },
      // Declared namespaces replace the default ones: doc is declared again beside small.
      namespaces: { doc: { documents: true }, small: { documents: { maxDocumentBytes: 2048, maxUpdateBytes: 2048 } } },
    });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  it('two providers converge on concurrent edits (same text position, same map key), a late one gets it all, and it is all there after a restart', async () => {
    const doc = name();
    const [a, b] = await Promise.all([provider(doc, 'ada'), provider(doc, 'bob')]);
    // Concurrent: both edit before either hears of the other's change.
    a.doc.getText('body').insert(0, 'hello from ada. ');
    b.doc.getText('body').insert(0, 'hello from bob. ');
    a.doc.getMap('fields').set('title', 'ada');
    b.doc.getMap('fields').set('title', 'bob');
    b.doc.getMap('fields').set('status', 'draft');
    await converged([a.doc, b.doc], 'a and b');
    const text = a.doc.getText('body').toString();
    expect(b.doc.getText('body').toString()).toBe(text);
    expect(text).toContain('hello from ada. ');
    expect(text).toContain('hello from bob. ');
    expect(a.doc.getMap('fields').toJSON()).toEqual(b.doc.getMap('fields').toJSON());

    const late = await provider(doc, 'carol');
    await converged([a.doc, late.doc], 'the late provider');
    expect(late.doc.getText('body').toString()).toBe(text);

    const before = Y.encodeStateAsUpdate(a.doc);
    for (const p of [a, b, late]) p.provider.disconnect();
    await s.restart();
    const fresh = await provider(doc, 'dave');
    expect(fresh.doc.getText('body').toString()).toBe(text);
    expect(fresh.doc.getMap('fields').toJSON()).toEqual(a.doc.getMap('fields').toJSON());
    // Byte for byte the same state: nothing lost, nothing applied twice.
    const check = new Y.Doc();
    Y.applyUpdate(check, before);
    expect(Buffer.from(Y.encodeStateVector(fresh.doc))).toEqual(Buffer.from(Y.encodeStateVector(check)));
  });

  it('compacts the log after compactAfter entries: edits end in one snapshot and a short log, and a restart gives the same document', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    const text = a.doc.getText('body');
    // Edits until the log was folded (entries are one per write: on PostgreSQL several edits may share one).
    for (let i = 0; i < 2000 && (await metric(s, 'switchboard_document_compactions_total')) === 0; i++) {
      text.insert(text.length, `${i},`);
      await new Promise((r) => setImmediate(r));
    }
    await eventually(async () => (await metric(s, 'switchboard_document_compactions_total')) > 0, WAIT, 'a compaction');
    const expected = text.toString();
    // The server has every edit before the restart (a provider's last messages may still be on the wire when it disconnects).
    await eventually(
      async () => ((await s.api('GET', `/documents/${doc}`)).body['json'] as { body?: string } | undefined)?.body === expected,
      WAIT,
      'every edit on the server',
    );
    a.provider.disconnect();
    await s.restart();
    const b = await provider(doc, 'bob');
    expect(b.doc.getText('body').toString()).toBe(expected);
  });

  it('serves joiners that hold nothing from one encoding of the document, until it changes', async () => {
    const doc = name();
    const writer = await provider(doc, 'ada');
    writer.doc.getText('body').insert(0, 'x'.repeat(10_000));
    const first = await provider(doc, 'bob');
    await eventually(() => first.doc.getText('body').length === 10_000, WAIT, 'bob has it');
    const before = await metric(s, 'switchboard_document_state_encodings_total');
    const joiners = await Promise.all(Array.from({ length: 10 }, (_, i) => provider(doc, `joiner-${i}`)));
    for (const j of joiners) expect(j.doc.getText('body').length).toBe(10_000);
    // bob's encoding may still be the one kept (nothing changed since): at most one more for ten joiners.
    expect(await metric(s, 'switchboard_document_state_encodings_total')).toBeLessThanOrEqual(before + 1);
    writer.doc.getText('body').insert(0, 'y');
    await eventually(() => joiners.every((j) => j.doc.getText('body').length === 10_001), WAIT, 'the change everywhere');
    const encoded = await metric(s, 'switchboard_document_state_encodings_total');
    const late = await provider(doc, 'late');
    // A joiner after a change gets the new state, encoded anew.
    expect(late.doc.getText('body').toString()).toBe(writer.doc.getText('body').toString());
    expect(await metric(s, 'switchboard_document_state_encodings_total')).toBe(encoded + 1);
  });

  it('a subscribe-only token reads but cannot write: its edits are dropped, counted, and reach nobody', async () => {
    const doc = name();
    const writer = await provider(doc, 'ada');
    writer.doc.getText('body').insert(0, 'written');
    const reader = await provider(doc, 'rita', { caps: { 'doc:*': ['subscribe'] } });
    await eventually(() => reader.doc.getText('body').toString() === 'written', WAIT, 'the reader reads');
    const dropped = await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}');
    reader.doc.getText('body').insert(0, 'NOT ');
    await eventually(
      async () => (await metric(s, 'switchboard_document_updates_dropped_total{reason="read_only"}')) > dropped,
      WAIT,
      'the dropped update counted',
    );
    writer.doc.getText('body').insert(7, '!');
    await eventually(() => reader.doc.getText('body').toString().endsWith('!'), WAIT, 'a later write reaches the reader');
    expect(writer.doc.getText('body').toString()).toBe('written!');
    writer.provider.disconnect();
    reader.provider.disconnect();
    const fresh = await provider(doc, 'dave');
    expect(fresh.doc.getText('body').toString()).toBe('written!');
  });

  it('refuses with the providers’ terminal codes: no token 4401, a name outside document namespaces or without read access 4403, and the provider stops reconnecting', async () => {
    const noToken = await provider(name(), 'ada', { token: null, awaitSync: false });
    const forged = await provider(name(), 'ada', { token: 'eyJhbGciOiJIUzI1NiJ9.e30.forged', awaitSync: false });
    const project = await provider('project:1', 'ada', { awaitSync: false });
    const noRead = await provider(name(), 'ada', { caps: { 'project:*': ['subscribe'] }, awaitSync: false });
    const bad = await provider('doc:a|b', 'ada', { awaitSync: false });
    for (const [p, code] of [
      [noToken, DocumentCloseCode.Unauthorized.code],
      [forged, DocumentCloseCode.Unauthorized.code],
      [project, DocumentCloseCode.Forbidden.code],
      [noRead, DocumentCloseCode.Forbidden.code],
      [bad, DocumentCloseCode.Forbidden.code],
    ] as const) {
      await eventually(() => p.closes.length > 0, WAIT, `a close for ${code}`);
      expect(p.closes[0]?.code).toBe(code);
      expect(p.provider.shouldConnect).toBe(false);
    }
    // The audit log has them: the forged token (a fingerprint, never the token) and the read refused.
    await s.current.server.feature<{ flush(): Promise<number> }>('audit').flush();
    const system = await s.api('GET', '/audit/system?type=auth.failed');
    const failed = system.body['entries'] as Array<{ detail: Record<string, unknown> }>;
    expect(failed.some((e) => e.detail['command'] === 'documents' && typeof e.detail['fingerprint'] === 'string')).toBe(true);
    expect(JSON.stringify(system.body)).not.toContain('forged');
    const forbidden = (await s.api('GET', '/audit?type=channel.forbidden')).body['entries'] as Array<{ detail: Record<string, unknown> }>;
    expect(forbidden.some((e) => String(e.detail['channel']).startsWith('doc:sync-') && e.detail['action'] === 'subscribe')).toBe(true);
  });

  it("keeps tenants apart: the same name in another tenant is another document, and a token's tenant is the only one it reaches", async () => {
    const doc = name();
    const acme = await provider(doc, 'ada');
    acme.doc.getText('body').insert(0, 'acme canary 7f3a');
    await eventually(async () => JSON.stringify((await s.api('GET', `/documents/${doc}`)).body).includes('canary'), WAIT, "acme's change applied");
    const demo = await provider(doc, 'ada', { tenant: 'demo' });
    expect(demo.doc.getText('body').toString()).toBe('');
    demo.doc.getText('body').insert(0, 'demo');
    const acme2 = await provider(doc, 'bob');
    await converged([acme.doc, acme2.doc], 'acme providers');
    expect(acme2.doc.getText('body').toString()).toBe('acme canary 7f3a');
  });

  it('a corrupt update closes its sender with 4400 and changes nothing: the stored document is the same and the others keep converging', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'intact');
    const b = await provider(doc, 'bob');
    await converged([a.doc, b.doc], 'before');
    const token = await s.current.token({ sub: 'mallory', caps: { 'doc:*': ['subscribe', 'publish'] } });
    const cases = [
      Buffer.from([0, 2, 5, 1, 2, 3, 4, 5]), // an update of random bytes
      Buffer.from([0, 2, 40, 1, 1]), // a length past the end
      Buffer.from([0, 9, 0]), // an unknown sync message
      Buffer.from([7]), // an unknown message type
    ];
    // A valid update with one byte flipped in its struct lengths.
    const valid = Y.encodeStateAsUpdate(a.doc);
    const flipped = Buffer.from(valid);
    flipped[2] = (flipped[2] as number) ^ 0xff;
    cases.push(Buffer.concat([Buffer.from([0, 2]), Buffer.from([flipped.length]), flipped]));
    for (const frame of cases) {
      const ws = new WebSocket(`${s.documentsUrl}/${doc}?token=${token}`);
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('open', () => ws.send(frame));
      expect(await closed).toBe(DocumentCloseCode.InvalidUpdate.code);
    }
    a.doc.getText('body').insert(6, ' still');
    await converged([a.doc, b.doc], 'after');
    expect(b.doc.getText('body').toString()).toBe('intact still');
  });

  it('an update that breaks halfway through being applied discards the document: every provider reconnects (4205) and converges on what was stored, none of it applied', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    const b = await provider(doc, 'bob');
    for (let i = 0; i < 5; i++) a.doc.getText('body').insert(0, `line ${i}. `);
    a.doc.getMap('fields').set('title', 'kept');
    await converged([a.doc, b.doc], 'before');
    await eventually(async () => (await metric(s, 'switchboard_document_updates_total')) > 0, WAIT, 'stored');
    const expected = a.doc.getText('body').toString();
    const broken = findBroken(Y.encodeStateAsUpdate(a.doc));
    const token = await s.current.token({ sub: 'mallory', caps: { 'doc:*': ['subscribe', 'publish'] } });
    const ws = new WebSocket(`${s.documentsUrl}/${doc}?token=${token}`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('open', () => ws.send(Buffer.concat([Buffer.from([0, 2]), varuint(broken.length), broken])));
    expect(await closed).toBe(DocumentCloseCode.Reset.code);
    await eventually(
      () => a.closes.some((c) => c.code === DocumentCloseCode.Reset.code) && b.closes.some((c) => c.code === DocumentCloseCode.Reset.code),
      WAIT,
      'both reset',
    );
    await eventually(() => a.provider.synced && b.provider.synced, WAIT, 'both back');
    a.doc.getText('body').insert(0, 'after. ');
    await converged([a.doc, b.doc], 'after the reset');
    expect(b.doc.getText('body').toString()).toBe(`after. ${expected}`);
    const fresh = await provider(doc, 'dave');
    expect(fresh.doc.getText('body').toString()).toBe(`after. ${expected}`);
    expect(fresh.doc.getMap('fields').get('title')).toBe('kept');
  });

  it('relays awareness between providers, removes a closed provider’s state at once, and refuses states for a client id another connection introduced', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    const b = await provider(doc, 'bob');
    a.provider.awareness.setLocalStateField('user', { name: 'ada', cursor: 3 });
    await eventually(
      () => (b.provider.awareness.getStates().get(a.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'ada',
      WAIT,
      'b sees a',
    );
    // A third connection claims a's client id: nothing changes.
    const token = await s.current.token({ sub: 'mallory', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] } });
    const ws = new WebSocket(`${s.documentsUrl}/${doc}?token=${token}`);
    await new Promise((r) => ws.on('open', r));
    const before = await metric(s, 'switchboard_document_updates_dropped_total{reason="awareness_owner"}');
    const state = JSON.stringify({ user: { name: 'impostor' } });
    const body = Buffer.concat([Buffer.from([1]), varuint(a.doc.clientID), Buffer.from([99]), varuint(Buffer.byteLength(state)), Buffer.from(state)]);
    ws.send(Buffer.concat([Buffer.from([1]), varuint(body.length), body]));
    await eventually(
      async () => (await metric(s, 'switchboard_document_updates_dropped_total{reason="awareness_owner"}')) > before,
      WAIT,
      'the impostor refused',
    );
    expect((b.provider.awareness.getStates().get(a.doc.clientID) as { user: { name: string } }).user.name).toBe('ada');
    ws.close();
    a.provider.disconnect();
    await eventually(() => !b.provider.awareness.getStates().has(a.doc.clientID), WAIT, "a's state removed");
  });

  it('takes the token as a subprotocol (token.<jwt>) and agrees on the other one offered, so the token is not echoed back', async () => {
    const token = await s.current.token({ sub: 'ada' });
    const ws = new WebSocket(`${s.documentsUrl}/${name()}`, ['yjs', `token.${token}`]);
    const first = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
    await new Promise((r) => ws.on('open', r));
    expect(ws.protocol).toBe('yjs');
    // The server's first message is its sync step 1: message 0, sync step 0.
    expect([...(await first).subarray(0, 2)]).toEqual([0, 0]);
    ws.close();
  });

  it('closes with 4401 when the token expires, and the provider stops reconnecting', async () => {
    const token = await s.current.token({ sub: 'ada', ttlSeconds: 1 });
    // Not waiting for the sync: on a slow machine the second may be over before the provider connects (the same close, at the handshake).
    const p = await provider(name(), 'ada', { token, awaitSync: false });
    // The server allows auth.clockSkew (0 here) past exp.
    await eventually(() => p.closes.length > 0, WAIT, 'the close at expiry');
    expect(p.closes[0]).toEqual({ code: DocumentCloseCode.Unauthorized.code, reason: 'unauthorized: token expired' });
    expect(p.provider.shouldConnect).toBe(false);
  });

  it("refuses what would take a document above its namespace's size (4413) and an update above maxUpdateBytes (1009), and keeps what it held", async () => {
    const doc = `small:${++n}`;
    const a = await provider(doc, 'ada', { caps: { 'small:*': ['subscribe', 'publish'] } });
    a.doc.getText('body').insert(0, 'x'.repeat(1000));
    const b = await provider(doc, 'bob', { caps: { 'small:*': ['subscribe', 'publish'] } });
    await converged([a.doc, b.doc], 'the first 1,000 characters');
    a.doc.getText('body').insert(0, 'y'.repeat(1500));
    await eventually(() => a.closes.length > 0, WAIT, 'the close above the size');
    expect(a.closes[0]?.code).toBe(DocumentCloseCode.TooLarge.code);
    expect(b.doc.getText('body').toString()).toBe('x'.repeat(1000));
    const big = await provider(doc, 'carol', { caps: { 'small:*': ['subscribe', 'publish'] } });
    big.doc.getText('body').insert(0, 'z'.repeat(3000));
    await eventually(() => big.closes.length > 0, WAIT, 'the close above maxUpdateBytes');
    expect(big.closes[0]?.code).toBe(1009);
    const fresh = await provider(doc, 'dave', { caps: { 'small:*': ['subscribe', 'publish'] } });
    expect(fresh.doc.getText('body').toString()).toBe('x'.repeat(1000));
  });

  it('contains a flood: awareness beyond the rate is dropped with the connection kept, an update beyond it closes with 3007, and the provider reconnects with nothing lost', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'before the flood');
    const token = await s.current.token({ sub: 'mallory' });
    const ws = new WebSocket(`${s.documentsUrl}/${doc}?token=${token}`);
    const first = new Promise((r) => ws.once('message', r));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await first;
    const rate = () => metric(s, 'switchboard_document_updates_dropped_total{reason="rate"}');
    const before = await rate();
    const state = JSON.stringify({ user: 'mallory' });
    const entry = Buffer.concat([Buffer.from([1]), varuint(424242), Buffer.from([1]), varuint(Buffer.byteLength(state)), Buffer.from(state)]);
    const awareness = Buffer.concat([Buffer.from([1]), varuint(entry.length), entry]);
    for (let i = 0; i < 1000; i++) ws.send(awareness);
    await eventually(async () => (await rate()) >= before + 700, WAIT, 'awareness beyond the rate dropped');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const local = new Y.Doc();
    for (let i = 0; i < 500; i++) {
      let update: Uint8Array = new Uint8Array();
      local.once('update', (u: Uint8Array) => {
        update = u;
      });
      local.getArray('spam').push([i]);
      ws.send(Buffer.concat([Buffer.from([0, 2]), varuint(update.length), update]));
    }
    expect(await closed).toBe(3007);
    a.doc.getText('body').insert(0, 'after. ');
    const b = await provider(doc, 'bob');
    await converged([a.doc, b.doc], 'after the flood');
    expect(b.doc.getText('body').toString()).toBe('after. before the flood');
  });

  it('unloads a document once its last provider left and nothing is unstored, and loads it whole again', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'kept');
    await eventually(async () => (await metric(s, 'switchboard_documents_loaded')) >= 1, WAIT, 'loaded');
    for (const p of open) p.provider.disconnect();
    await eventually(async () => (await metric(s, 'switchboard_documents_loaded')) === 0, WAIT, 'every document unloaded');
    const b = await provider(doc, 'bob');
    expect(b.doc.getText('body').toString()).toBe('kept');
  });
});

function varuint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A mutation of `state` that passes every check and still fails halfway through being applied to a document holding `state`. */
function findBroken(state: Uint8Array): Uint8Array {
  const rand = seeded(42);
  for (let i = 0; i < 200_000; i++) {
    const bytes = Buffer.from(state);
    for (let k = Math.floor(rand() * 3) + 1; k > 0; k--) {
      const at = Math.floor(rand() * bytes.length);
      bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(rand() * 8));
    }
    const target = new Y.Doc();
    Y.applyUpdate(target, state);
    if (applyChecked(target, bytes, null, 1 << 20) === 'broken') return bytes;
  }
  throw new Error('no breaking mutation found');
}
