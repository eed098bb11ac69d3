import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ACTIONS } from '../helpers/server.js';
import { CANARY, hostileServer, replyError, scanned, TENANT_A, TENANT_B } from './harness.js';
import type { WireClient } from './wire.js';

/**
 * Comment threads under attack. Tenant B ('other') keeps threads on the channel names tenant
 * A uses too, with canaries in comment bodies, mentions and metadata, and its bystander
 * watches them live; tenant A, with every capability, tries B's thread and comment ids over
 * the WebSocket and the HTTP API, and sends malformed and oversized input. Every frame A
 * receives is scanned by the harness, every HTTP answer here; none may hold a canary byte,
 * and every refusal is the same 117 as for an id that never existed.
 */

const E = ErrorCode;
const EVERYTHING = { '*': ALL_ACTIONS };

interface Ids {
  thread: string;
  comment: string;
}

describe('hostile comment threads', () => {
  const ctx = hostileServer();
  let mallory: WireClient;
  let b: Ids;
  const answers: string[] = [];

  const api = async (tenant: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${ctx().s.tenantKeys[tenant]}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${ctx().s.httpUrl}/api/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (tenant !== TENANT_B) answers.push(text);
    return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const made = await api(TENANT_B, 'POST', '/channels/project:1/threads', {
      userId: 'bob',
      body: `secret plan ${CANARY}`,
      mentions: ['carol'],
      metadata: { canary: CANARY, [CANARY]: 1 },
    });
    expect(made.status).toBe(201);
    const thread = made.json['thread'] as { id: string; comments: Array<{ id: string }> };
    b = { thread: thread.id, comment: thread.comments[0]?.id as string };
    expect((await api(TENANT_B, 'PUT', `/threads/${b.thread}/comments/${b.comment}/reactions/like?userId=bob`)).status).toBe(200);
    expect((await api(TENANT_B, 'PUT', `/threads/${b.thread}/read`, { userId: 'carol', commentId: b.comment })).status).toBe(200);
    const { bystander } = ctx();
    expect((await bystander.call('subscribe', { channel: 'comments:project:1' }))['error']).toBeUndefined();
    mallory = await ctx().connect('mallory', { caps: EVERYTHING });
    expect((await mallory.call('subscribe', { channel: 'comments:project:1' }))['error']).toBeUndefined();
  });

  it("tenant A's every command on B's thread and comment ids answers 117, as for ids that never existed", async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      ['comments.get', { threadId: b.thread }],
      ['comments.reply', { threadId: b.thread, body: 'hi' }],
      ['comments.edit', { threadId: b.thread, commentId: b.comment, body: 'mine' }],
      ['comments.delete', { threadId: b.thread, commentId: b.comment }],
      ['comments.resolve', { threadId: b.thread }],
      ['comments.reopen', { threadId: b.thread }],
      ['comments.set_metadata', { threadId: b.thread, metadata: { x: 1 } }],
      ['comments.typing', { threadId: b.thread }],
      ['comments.set_reaction', { threadId: b.thread, commentId: b.comment, reaction: 'like', on: true }],
      ['comments.set_reaction', { threadId: b.thread, commentId: b.comment, reaction: 'like', on: false }],
      ['comments.mark_read', { threadId: b.thread, commentId: b.comment }],
      ['comments.receipts', { threadId: b.thread }],
    ];
    for (const [method, params] of calls) {
      expect(replyError(await mallory.call(method, params)).code, method).toBe(E.NotFound.code);
      expect(replyError(await mallory.call(method, { ...params, threadId: 't_00000000000000000000' })).code, `${method} (never existed)`).toBe(E.NotFound.code);
    }
    const list = await mallory.call('comments.list', { channel: 'project:1' });
    expect(list['result']).toEqual({ threads: [], nextCursor: null });
  });

  it("tenant A's key gets 404 for B's threads and comments over HTTP and an empty list for B's channel", async () => {
    const paths: Array<[string, string, unknown?]> = [
      ['GET', `/threads/${b.thread}`],
      ['PATCH', `/threads/${b.thread}`, { resolved: true }],
      ['DELETE', `/threads/${b.thread}`],
      ['POST', `/threads/${b.thread}/comments`, { userId: 'mallory', body: 'x' }],
      ['PATCH', `/threads/${b.thread}/comments/${b.comment}`, { body: 'x' }],
      ['DELETE', `/threads/${b.thread}/comments/${b.comment}`],
      ['PUT', `/threads/${b.thread}/comments/${b.comment}/reactions/like?userId=mallory`],
      ['DELETE', `/threads/${b.thread}/comments/${b.comment}/reactions/like?userId=bob`],
      ['PUT', `/threads/${b.thread}/read`, { userId: 'mallory', commentId: b.comment }],
      ['GET', `/threads/${b.thread}/read`],
    ];
    for (const [method, path, body] of paths) {
      const res = await api(TENANT_A, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect((res.json['error'] as { code: number }).code).toBe(E.NotFound.code);
    }
    const list = await api(TENANT_A, 'GET', `/channels/project:1/threads?metadata=${encodeURIComponent(JSON.stringify({ canary: CANARY }))}`);
    expect(list.json).toEqual({ threads: [], nextCursor: null });
    // B's thread is untouched and B still reads it.
    const mine = await api(TENANT_B, 'GET', `/threads/${b.thread}`);
    expect(mine.json).toMatchObject({
      resolved: false,
      commentCount: 1,
      comments: [{ body: `secret plan ${CANARY}`, reactions: [{ reaction: 'like', count: 1, userIds: ['bob'] }] }],
    });
  });

  it("A's writes on the same channel name stay A's: B's watcher sees none, A's sees none of B's", async () => {
    const mine = await mallory.call('comments.create_thread', { channel: 'project:1', body: 'a thread of acme' });
    expect(mine['error']).toBeUndefined();
    await mallory.waitJson((f) => f['push'] === 'pub' && f['channel'] === 'comments:project:1');
    // B writes again: its watcher gets it, mallory (subscribed to the same name) must not.
    const again = await api(TENANT_B, 'POST', `/threads/${b.thread}/comments`, { userId: 'carol', body: `reply ${CANARY}` });
    expect(again.status).toBe(201);
    await ctx().bystander.waitJson((f) => f['push'] === 'pub' && f['channel'] === 'comments:project:1' && JSON.stringify(f['data']).includes('reply'));
    const list = await mallory.call('comments.list', { channel: 'project:1' });
    expect((list['result'] as { threads: unknown[] }).threads).toHaveLength(1);
    // A's thread was published before B's reply: B's watcher, which got the reply, got nothing of A's.
    expect(ctx().bystander.json.some((f) => JSON.stringify(f).includes('a thread of acme'))).toBe(false);
  });

  it('malformed, oversized and hostile input is refused with a typed error and the connection stays', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const cases: Array<[string, unknown, number]> = [
      ['comments.create_thread', { channel: 'project:1', body: 42 }, E.BadRequest.code],
      ['comments.create_thread', { channel: 'project:1', body: 'x', extra: true }, E.BadRequest.code],
      ['comments.create_thread', { channel: 'project:1', body: 'x'.repeat(10_001) }, E.PayloadTooLarge.code],
      ['comments.create_thread', { channel: 'project:1', body: 'x', mentions: Array.from({ length: 51 }, (_, i) => `u${i}`) }, E.LimitExceeded.code],
      ['comments.create_thread', { channel: 'project:1', body: 'x', metadata: { big: 'y'.repeat(5000) } }, E.PayloadTooLarge.code],
      [
        'comments.create_thread',
        { channel: 'project:1', body: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) },
        E.LimitExceeded.code,
      ],
      ['comments.create_thread', { channel: 'other|project:1', body: 'x' }, E.InvalidChannel.code],
      ['comments.create_thread', { channel: 'comments:project:1', body: 'x' }, E.NotAvailable.code],
      ['comments.get', { threadId: "t_x' OR '1'='1" }, E.BadRequest.code],
      ['comments.get', { threadId: `t_${'a'.repeat(65)}` }, E.BadRequest.code],
      ['comments.reply', { threadId: b.thread, body: 'x', userId: 'bob' }, E.BadRequest.code],
      ['comments.list', { channel: 'project:1', cursor: 'not-a-cursor!' }, E.BadRequest.code],
      ['comments.list', { channel: 'project:1', limit: 100_000 }, E.BadRequest.code],
    ];
    for (const [method, params, code] of cases)
      expect(replyError(await mallory.call(method, params)).code, `${method} ${JSON.stringify(params).slice(0, 80)}`).toBe(code);
    const nested = await api(TENANT_A, 'POST', '/channels/project:1/threads', `{"userId":"m","body":"x","metadata":${deep}}`);
    expect([400, 413]).toContain(nested.status);
    const proto = await mallory.call('comments.create_thread', { channel: 'project:1', body: 'x', metadata: JSON.parse('{"__proto__":{"polluted":true}}') });
    expect(proto['error']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(mallory.close).toBeNull();
  });

  it('no HTTP answer to tenant A held a canary byte, and the scanner saw A’s frames', () => {
    expect(answers.length).toBeGreaterThanOrEqual(8);
    for (const text of answers) expect(text.includes(CANARY), text.slice(0, 200)).toBe(false);
    expect(scanned.messages).toBeGreaterThan(0);
  });
});
