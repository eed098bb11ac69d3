/**
 * What must hold across the workers of `serve --workers N`, with real processes: the
 * recovery torture with reconnects landing on any worker (2 and 4 workers, bounded size; the
 * full size is `npx tsx test/long/torture.ts --workers 2`), kill -9 of a worker under traffic
 * (its clients recover on the other with nothing lost or duplicated, its presence leaves, it
 * is restarted), a user's connection limit counted once across workers, a document's
 * connections and awareness states answered over every worker, and `--redis` (each worker a
 * node of the Redis deployment).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { eventually } from './helpers/eventually.js';
import { RawClient } from './helpers/raw-client.js';
import { alive, getFresh, startWorkersServer, type WorkersServer } from './helpers/workers-server.js';
import { runTorture } from './long/torture.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const TORTURE_ARGS = [
  '--limits.max-recovery',
  '5000',
  '--limits.new-connections-per-ip-per-second',
  '10000',
  '--namespaces',
  JSON.stringify({ project: { historySize: 5000 } }),
];

async function cluster(workers: number, args: string[] = []): Promise<WorkersServer> {
  const s = await startWorkersServer({ workers, args });
  cleanups.push(() => s.kill());
  return s;
}

function raw(c: RawClient): RawClient {
  cleanups.push(() => c.terminate());
  return c;
}

describe('serve --workers N: semantics across worker processes', () => {
  for (const workers of [2, 4]) {
    it(`recovery torture with ${workers} workers: every publication once and in order to clients dropped at random, reconnecting to any worker`, async () => {
      const s = await cluster(workers, TORTURE_ARGS);
      const result = await runTorture({
        urls: [s.url],
        httpUrls: [s.httpUrl],
        apiKey: s.apiKey,
        tenant: 'demo',
        token: (sub) => s.token({ sub, tenant: 'demo', caps: { 'project:*': ['subscribe'] } }),
        clients: 24,
        publications: 1200,
        rate: 300,
        dropEvery: [250, 1500],
        channel: 'project:torture',
        timeout: 90_000,
      });
      expect(result.drops).toBeGreaterThan(20);
      expect(result.recoveredTrue).toBeGreaterThan(0);
      expect(result).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, recoveredFalse: 0, publishFailures: 0 });
      expect(result.delivered).toBe(24 * 1200);
    }, 120_000);
  }

  it('kill -9 of a worker under traffic: its clients recover on the other (0 lost, 0 duplicated), its presence leaves, it is restarted', async () => {
    const s = await cluster(2, [...TORTURE_ARGS, '--node-id', 'w']);
    const victim = s.workerPids[1] as number;
    // A member on each worker that does not reconnect: the victim's must leave, the survivor's stay.
    const members = new Map<string, { c: RawClient; user: string }>();
    for (let i = 0; i < 12 && members.size < 2; i++) {
      const user = `member${i}`;
      const c = raw(await RawClient.connect(s.url, await s.token({ sub: user, tenant: 'demo' })));
      const node = c.info['node'] as string;
      if (members.has(node)) c.terminate();
      else members.set(node, { c, user });
    }
    const victimMember = members.get('w-1');
    const survivorMember = members.get('w-0');
    if (!victimMember || !survivorMember) throw new Error(`members on both workers expected, got ${[...members.keys()]}`);
    const onSurvivor = survivorMember.c;
    for (const { c } of [victimMember, survivorMember]) {
      expect((await c.call('subscribe', { channel: 'project:kill' })).error).toBeUndefined();
      expect((await c.call('presence_set', { channel: 'project:kill', state: {} })).error).toBeUndefined();
    }
    const users = async () => {
      const reply = await onSurvivor.call('presence', { channel: 'project:kill' });
      return ((reply.result?.['members'] ?? []) as Array<{ user: string }>).map((m) => m.user).sort();
    };
    expect(await users()).toEqual([survivorMember.user, victimMember.user].sort());

    let killedAt = 0;
    const publications = 900;
    const result = await runTorture({
      urls: [s.url],
      httpUrls: [s.httpUrl],
      apiKey: s.apiKey,
      tenant: 'demo',
      token: (sub) => s.token({ sub, tenant: 'demo', caps: { 'project:*': ['subscribe'] } }),
      clients: 16,
      publications,
      rate: 300,
      // Rare drops: the kill is what moves clients here.
      dropEvery: [4000, 5000],
      channel: 'project:kill',
      timeout: 90_000,
      onPublished: (n) => {
        if (n === publications / 3) {
          killedAt = n;
          process.kill(victim, 'SIGKILL');
        }
      },
    });
    expect(killedAt).toBe(publications / 3);
    expect(alive(victim)).toBe(false);
    expect(result).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, recoveredFalse: 0, publishFailures: 0 });
    expect(result.delivered).toBe(16 * publications);
    // Clients of the killed worker came back through recovery.
    expect(result.recoveredTrue).toBeGreaterThan(0);

    // The killed worker's member is gone, the survivor's stays.
    expect(victimMember.c.closeCode).not.toBeNull();
    expect(await users()).toEqual([survivorMember.user]);
    const replacement = await s.replacementOf(victim);
    expect(alive(replacement)).toBe(true);
  }, 150_000);

  it("counts a user's connections once across workers", async () => {
    const s = await cluster(2, ['--limits.connections-per-user', '2']);
    const token = await s.token({ sub: 'limited' });
    const accepted: RawClient[] = [];
    const refusals: number[] = [];
    // New connections are spread over both workers; the third for the user is refused wherever it lands.
    for (let i = 0; i < 6; i++) {
      const c = raw(await RawClient.open(s.url));
      const reply = await c.call('connect', { token });
      if (reply.error) refusals.push(reply.error.code);
      else accepted.push(c);
    }
    expect(accepted).toHaveLength(2);
    expect(refusals).toHaveLength(4);
    expect(new Set(refusals).size).toBe(1);
    // Another user is not counted against it.
    raw(await RawClient.connect(s.url, await s.token({ sub: 'other' })));
    // A slot freed on one worker is free on both.
    (accepted[0] as RawClient).terminate();
    await eventually(
      async () => {
        const c = raw(await RawClient.open(s.url));
        return !(await c.call('connect', { token })).error;
      },
      10_000,
      'the freed slot to be taken again',
    );
  });

  it("lists a document's connections and awareness states over both workers, whichever worker answers", async () => {
    const s = await cluster(2);
    const token = await s.token({ sub: 'ann', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] } });
    const docs: Y.Doc[] = [];
    // New connections go to the workers in turn: four providers are on both.
    for (let i = 0; i < 4; i++) {
      const doc = new Y.Doc();
      const p = new WebsocketProvider(`ws://127.0.0.1:${s.port}/documents`, 'doc:spread', doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        params: { token },
        disableBc: true,
      });
      cleanups.push(() => p.destroy());
      await eventually(() => p.synced, 10_000, `provider ${i} synced`);
      p.awareness.setLocalStateField('user', { name: `u${i}` });
      docs.push(doc);
    }
    (docs[0] as Y.Doc).getText('body').insert(0, 'stored');
    const get = async (path: string) => {
      const res = await getFresh(`${s.httpUrl}${path}`, 3000, { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme' });
      return JSON.parse(res?.body ?? '{}') as Record<string, unknown>;
    };
    const loaded = await getFresh(`${s.httpUrl}/metrics`);
    expect([...(loaded?.body ?? '').matchAll(/^switchboard_documents_loaded\{worker="(\d)"\} 1$/gm)].map((m) => m[1]).sort()).toEqual(['0', '1']);
    const row = async () =>
      ((await get('/api/v1/documents')).documents as Array<{ name: string; connections: number }> | undefined)?.find((d) => d.name === 'doc:spread');
    await eventually(async () => (await row()) !== undefined, 10_000, 'the document stored');
    const names = async () =>
      (((await get('/api/v1/documents/doc:spread/awareness')).states ?? []) as Array<{ state: { user: { name: string } } }>)
        .map((st) => st.state.user.name)
        .sort();
    await eventually(async () => (await names()).length === 4, 10_000, 'the four awareness states');
    // Several requests on new connections: both workers answer some of them, each for both.
    for (let i = 0; i < 4; i++) {
      expect(await get('/api/v1/documents')).toMatchObject({ documents: [{ name: 'doc:spread', connections: 4 }], complete: true, nodes: 2 });
      expect(await get('/api/v1/documents/doc:spread/awareness')).toMatchObject({ complete: true, nodes: 2 });
      expect(await names()).toEqual(['u0', 'u1', 'u2', 'u3']);
    }
  });

  it('--workers 2 --redis: each worker is a node of the Redis deployment, offsets consecutive across them', async () => {
    const prefix = `wk${randomBytes(4).toString('hex')}`;
    const s = await cluster(2, ['--redis', 'redis://127.0.0.1:6379', '--redis-prefix', prefix]);
    expect(s.output()).toContain('engine redis');
    const clients: RawClient[] = [];
    const nodes = new Set<string>();
    for (let i = 0; i < 12 && (nodes.size < 2 || clients.length < 4); i++) {
      const c = raw(await RawClient.connect(s.url, await s.token({ sub: `r${i}` })));
      clients.push(c);
      nodes.add(c.info['node'] as string);
    }
    expect(nodes.size).toBe(2);
    const ch = 'project:redis-workers';
    for (const c of clients) expect((await c.call('subscribe', { channel: ch })).error).toBeUndefined();
    for (let i = 0; i < 6; i++) expect((await (clients[i % clients.length] as RawClient).call('publish', { channel: ch, data: { i } })).error).toBeUndefined();
    const offsetsOf = (c: RawClient) => c.pushes('pub', ch).map((f) => f['offset'] as number);
    for (const c of clients) await c.until(() => offsetsOf(c).length === 6, 10_000, 'six publications');
    for (const c of clients) expect(offsetsOf(c)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
