import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ACTIONS } from '../helpers/server.js';
import { B_CHANNELS, CANARY, hostileServer, replyError, scanned, TENANT_B } from './harness.js';
import type { WireClient } from './wire.js';

/**
 * Tenant isolation. Tenant B ('other') has canaries in every publication, history entry,
 * presence state and signal (planted by the harness, and again after every test). Tenant A
 * ('acme') clients with the broadest capabilities try B's channel names, hostile spellings
 * of them, and reads of history and presence; the harness scans every message any non-B
 * client receives during the file and fails on one canary byte.
 */

const E = ErrorCode;
const EVERYTHING = { '*': ALL_ACTIONS };

/** Names that must never resolve to any channel: separators, controls, look-alikes, empty parts. */
const hostileNames: Array<{ name: string; channel: string; code: number }> = [
  { name: "key separator after the name ('project:1|other')", channel: 'project:1|other', code: E.InvalidChannel.code },
  { name: "tenant-qualified key ('other|project:1')", channel: 'other|project:1', code: E.InvalidChannel.code },
  { name: "a bare '|'", channel: '|', code: E.InvalidChannel.code },
  { name: 'trailing NUL', channel: 'project:1\u0000', code: E.InvalidChannel.code },
  { name: 'leading NUL', channel: '\u0000project:1', code: E.InvalidChannel.code },
  { name: 'NUL inside', channel: 'project:1\u0000other', code: E.InvalidChannel.code },
  { name: "a run of ':'", channel: ':::', code: E.InvalidChannel.code },
  { name: "':' runs inside", channel: 'project:::1', code: E.InvalidChannel.code },
  { name: "an empty part ('project::1')", channel: 'project::1', code: E.InvalidChannel.code },
  { name: "an empty name ('project:')", channel: 'project:', code: E.InvalidChannel.code },
  { name: "an empty namespace (':project')", channel: ':project', code: E.InvalidChannel.code },
  { name: "Greek omicron look-alike ('prοject:1')", channel: 'pr\u03bfject:1', code: E.InvalidChannel.code },
  { name: 'fullwidth digit', channel: 'project:\uff11', code: E.InvalidChannel.code },
  { name: 'Cyrillic a in the name', channel: 'project:\u0430', code: E.InvalidChannel.code },
  { name: 'zero-width space', channel: 'project:\u200b1', code: E.InvalidChannel.code },
  { name: 'right-to-left override', channel: '\u202eproject:1', code: E.InvalidChannel.code },
  { name: 'lone surrogate', channel: 'project:1\ud800', code: E.InvalidChannel.code },
  { name: 'trailing space', channel: 'project:1 ', code: E.InvalidChannel.code },
  { name: 'leading space', channel: ' project:1', code: E.InvalidChannel.code },
  { name: 'trailing newline', channel: 'project:1\n', code: E.InvalidChannel.code },
  { name: 'CRLF inside', channel: 'project:1\r\nother', code: E.InvalidChannel.code },
  { name: 'upper-case namespace', channel: 'PROJECT:1', code: E.InvalidChannel.code },
  { name: 'percent-encoding', channel: 'project:%31', code: E.InvalidChannel.code },
  { name: 'path traversal', channel: 'project:1/../2', code: E.InvalidChannel.code },
  { name: 'empty string', channel: '', code: E.InvalidChannel.code },
  { name: '256 characters (one over the limit)', channel: `project:${'a'.repeat(248)}`, code: E.InvalidChannel.code },
  { name: "tenant name as a namespace ('other:project:1')", channel: 'other:project:1', code: E.UnknownChannel.code },
  { name: 'tenant name as a bare channel', channel: 'other', code: E.UnknownChannel.code },
];

describe('hostile tenancy', () => {
  const ctx = hostileServer();
  let mallory: WireClient;

  beforeAll(async () => {
    mallory = await ctx().connect('mallory', { caps: EVERYTHING });
  });

  it.each(hostileNames)('$name is refused with $code for subscribe, publish, history and presence', async ({ channel, code }) => {
    for (const [method, params] of [
      ['subscribe', { channel }],
      ['publish', { channel, data: { from: 'mallory' } }],
      ['history', { channel }],
      ['presence', { channel }],
      ['presence_stats', { channel }],
    ] as const) {
      expect(replyError(await mallory.call(method, params)).code, method).toBe(code);
    }
    expect(mallory.close).toBeNull();
  });

  it('a name of exactly 255 characters is a valid channel of its own tenant', async () => {
    const channel = `project:${'a'.repeat(247)}`;
    expect((await mallory.call('subscribe', { channel }))['result']).toBeDefined();
    expect((await mallory.call('unsubscribe', { channel }))['result']).toEqual({});
  });

  it.each(B_CHANNELS.filter((c) => c !== 'user:bob'))("B's channel name %s resolves to A's own channel: no B history, presence or offsets", async (channel) => {
    const sub = await mallory.call('subscribe', { channel });
    expect(sub['error']).toBeUndefined();
    expect((sub['result'] as { offset: number }).offset).toBe(0);
    const history = (await mallory.call('history', { channel }))['result'] as { publications: unknown[]; offset: number };
    expect(history).toMatchObject({ publications: [], offset: 0 });
    if (channel !== 'system') {
      const presence = (await mallory.call('presence', { channel }))['result'] as { members: Array<{ user: string }> };
      expect(presence.members.map((m) => m.user)).not.toContain('bob');
      expect(presence.members.map((m) => m.user)).not.toContain('carol');
      expect((await mallory.call('presence_stats', { channel }))['result']).toEqual({ users: 0, connections: 0 });
    }
    expect((await mallory.call('unsubscribe', { channel }))['result']).toEqual({});
  });

  it("A's user bob gets A's user:bob, never B's", async () => {
    const bobA = await ctx().connect('bob');
    const sub = await bobA.call('subscribe', { channel: 'user:bob' });
    expect(sub['result']).toMatchObject({ offset: 0 });
    expect((await bobA.call('history', { channel: 'user:bob' }))['result']).toMatchObject({ publications: [], offset: 0 });
    expect(replyError(await mallory.call('subscribe', { channel: 'user:bob' })).code).toBe(E.PermissionDenied.code);
  });

  it("A's publications and signals in the same channel names never reach B, and offsets count per tenant", async () => {
    const a2 = await ctx().connect('alice', { caps: EVERYTHING });
    await a2.call('subscribe', { channel: 'project:1' });
    await mallory.call('subscribe', { channel: 'project:1' });
    const pub = await mallory.call('publish', { channel: 'project:1', data: { marker: 'from-tenant-a' } });
    expect(pub['result']).toMatchObject({ offset: 1 });
    expect((await mallory.call('signal', { channel: 'project:1', key: 'typing', data: { marker: 'from-tenant-a' } }))['result']).toEqual({});
    await a2.waitJson((f) => f['push'] === 'signal' && f['key'] === 'typing');
    await a2.waitJson((f) => f['push'] === 'pub' && f['offset'] === 1);
    // B publishes after A: if A's traffic leaked to B, it would have arrived before this.
    await ctx().expectHealthy();
    const seenByB = ctx()
      .bystander.messages.map((m) => m.data.toString())
      .join('\n');
    expect(seenByB).not.toContain('from-tenant-a');
    expect(seenByB).not.toContain('mallory');
    expect(a2.json.filter((f) => f['push'] === 'pub' && f['channel'] === 'project:1').map((f) => f['offset'])).toEqual([1]);
    await mallory.call('unsubscribe', { channel: 'project:1' });
  });

  it('presence in a shared channel name lists only the tenant’s own members', async () => {
    await mallory.call('subscribe', { channel: 'project:shared' });
    await mallory.call('presence_set', { channel: 'project:shared', state: { page: '/a' } });
    const members = ((await mallory.call('presence', { channel: 'project:shared' }))['result'] as { members: Array<{ user: string }> }).members;
    expect(members.map((m) => m.user)).toEqual(['mallory']);
    const bMembers = ((await ctx().bystander.call('presence', { channel: 'project:shared' }))['result'] as { members: Array<{ user: string }> }).members;
    expect(bMembers.map((m) => m.user).sort()).toEqual(['bob', 'carol']);
    await mallory.call('unsubscribe', { channel: 'project:shared' });
  });

  it("a tenant A API key that names tenant B is refused with 403 and reads nothing of B's", async () => {
    const { s } = ctx();
    for (const path of ['/api/v1/channels/project%3A1/history', '/api/v1/channels/project%3A1/presence', '/api/v1/channels']) {
      const res = await fetch(`${s.httpUrl}${path}`, { headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'x-switchboard-tenant': TENANT_B } });
      expect(res.status, path).toBe(403);
      expect(await res.text()).not.toContain(CANARY);
    }
    const own = await fetch(`${s.httpUrl}/api/v1/channels/project%3A1/history`, { headers: { authorization: `Bearer ${s.tenantKeys['acme']}` } });
    expect(own.status).toBe(200);
    expect(await own.text()).not.toContain(CANARY);
  });

  it("tenant A's user presence, stats and server-side subscriptions never reach or show tenant B's users", async () => {
    const { s, bystander } = ctx();
    const headers = { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' };
    const get = async (path: string) => {
      const res = await fetch(`${s.httpUrl}${path}`, { headers });
      const text = await res.text();
      expect(res.status, path).toBe(200);
      expect(text, path).not.toContain(CANARY);
      return JSON.parse(text) as Record<string, unknown>;
    };
    // B's bob and carol are online and present (with canary state) in B's channels of the same names.
    // A's own bob (connected by an earlier test) is online but present nowhere; A has no carol.
    const bob = await get('/api/v1/users/bob/presence');
    expect(bob, JSON.stringify(bob)).toMatchObject({ user: 'bob', channels: [] });
    for (const device of bob['devices'] as Array<{ channels: string[] }>) expect(device.channels).toEqual([]);
    expect(await get('/api/v1/users/carol/presence')).toMatchObject({ user: 'carol', online: false, channels: [], devices: [] });
    const mine = await get('/api/v1/users/mallory/presence');
    expect(mine['online']).toBe(true);
    // The stats count A's own connections and users, as the connection list (tenant-scoped) lists them.
    const stats = await get('/api/v1/stats');
    const listed = await get('/api/v1/connections');
    const conns = listed['connections'] as Array<{ tenant: string; user: string }>;
    expect(conns.every((c) => c.tenant === 'acme')).toBe(true);
    expect(stats['connections'], JSON.stringify(stats)).toBe(conns.length);
    expect(stats['usersOnline'], JSON.stringify(stats)).toBe(new Set(conns.map((c) => c.user)).size);
    expect(stats['subscriptions']).toBe(listed['subscriptions']);
    // Subscribing A's "bob" from the backend touches no connection of B's bob.
    const pushesBefore = bystander.messages.length;
    for (const [path, body] of [
      ['/api/v1/users/bob/subscribe', { channel: 'project:77' }],
      ['/api/v1/subscribe', { user: 'bob', channel: 'project:78' }],
    ] as const) {
      const res = await fetch(`${s.httpUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      expect(res.status, path).toBe(200);
    }
    await mallory.call('publish', { channel: 'project:77', data: { from: 'mallory' } });
    const probe = await ctx().publish(TENANT_B, 'project:1', { probe: 'after the server-side subscriptions' });
    expect(probe.status).toBe(200);
    await bystander.waitJson((f) => f['push'] === 'pub' && (f['data'] as { probe?: string })?.probe !== undefined, 5000);
    const since = bystander.messages.slice(pushesBefore).map((m) => m.data);
    expect(since.filter((d) => d.includes('project:77') || d.includes('project:78'))).toEqual([]);
  });

  it('the scanner saw tenant A traffic, and tenant B did receive its canaries', () => {
    expect(scanned.messages).toBeGreaterThan(100);
    const bSaw = ctx().bystander.messages.filter((m) => m.data.includes(CANARY)).length;
    expect(bSaw).toBeGreaterThan(5);
  });
});
