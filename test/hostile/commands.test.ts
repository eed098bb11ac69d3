import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClosed, hostileServer, replyError } from './harness.js';
import { Op, type WireClient } from './wire.js';

/**
 * Application frames: every command of protocol v1 with wrong types, missing fields,
 * duplicate ids, unknown methods, deep nesting, huge numbers and prototype keys. Each gets
 * a typed reply error `{code, message, temporary}` and leaves the connection — and its
 * other subscriptions — working, or the documented protocol close 3501 for frames that are
 * not commands at all.
 */

const E = ErrorCode;
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

interface ErrorCase {
  name: string;
  /** A raw text message with `#ID#` where the id goes, or a method and params. */
  send: string | { method: string; params?: unknown };
  code: number;
}

/** Cases answered with a reply error on a connected connection that stays usable. */
const errorCases: ErrorCase[] = [
  // connect
  { name: 'connect with a numeric token', send: { method: 'connect', params: { token: 5 } }, code: E.BadRequest.code },
  { name: 'connect with an unknown field', send: { method: 'connect', params: { token: 'x', admin: true } }, code: E.BadRequest.code },
  { name: 'connect twice', send: { method: 'connect', params: { token: 'whatever' } }, code: E.AlreadyConnected.code },
  { name: 'connect with params as an array', send: { method: 'connect', params: ['token'] }, code: E.BadRequest.code },
  // refresh
  { name: 'refresh without a token', send: { method: 'refresh', params: {} }, code: E.BadRequest.code },
  { name: 'refresh with a numeric token', send: { method: 'refresh', params: { token: 42 } }, code: E.BadRequest.code },
  { name: 'refresh with a garbage token', send: { method: 'refresh', params: { token: 'not.a.jwt' } }, code: E.Unauthorized.code },
  { name: 'refresh with a 9 KB token', send: { method: 'refresh', params: { token: 'x'.repeat(9000) } }, code: E.Unauthorized.code },
  // subscribe
  { name: 'subscribe without params', send: { method: 'subscribe' }, code: E.BadRequest.code },
  { name: 'subscribe with a numeric channel', send: { method: 'subscribe', params: { channel: 42 } }, code: E.BadRequest.code },
  { name: 'subscribe with a channel array', send: { method: 'subscribe', params: { channel: ['project:1'] } }, code: E.BadRequest.code },
  { name: 'subscribe with an unknown field', send: { method: 'subscribe', params: { channel: 'project:x', extra: 1 } }, code: E.BadRequest.code },
  { name: 'subscribe twice to the same channel', send: { method: 'subscribe', params: { channel: 'project:ok' } }, code: E.AlreadySubscribed.code },
  {
    name: 'subscribe with a negative recover offset',
    send: { method: 'subscribe', params: { channel: 'project:x', recover: { offset: -1, epoch: 'e' } } },
    code: E.BadRequest.code,
  },
  {
    name: 'subscribe with a recover offset of 1e400',
    send: '{"id":#ID#,"method":"subscribe","params":{"channel":"project:x","recover":{"offset":1e400,"epoch":"e"}}}',
    code: E.BadRequest.code,
  },
  {
    name: 'subscribe with a recover offset of 2^64',
    send: '{"id":#ID#,"method":"subscribe","params":{"channel":"project:x","recover":{"offset":18446744073709551616,"epoch":"e"}}}',
    code: E.BadRequest.code,
  },
  { name: 'subscribe to an undeclared namespace', send: { method: 'subscribe', params: { channel: 'nope:1' } }, code: E.UnknownChannel.code },
  { name: 'subscribe without the capability', send: { method: 'subscribe', params: { channel: 'analytics:1' } }, code: E.PermissionDenied.code },
  { name: "subscribe to another user's personal channel", send: { method: 'subscribe', params: { channel: 'user:someone' } }, code: E.PermissionDenied.code },
  { name: 'subscribe to a 300-character name', send: { method: 'subscribe', params: { channel: `project:${'a'.repeat(300)}` } }, code: E.InvalidChannel.code },
  // unsubscribe
  { name: 'unsubscribe from a channel never subscribed', send: { method: 'unsubscribe', params: { channel: 'project:never' } }, code: E.NotSubscribed.code },
  { name: 'unsubscribe with a null channel', send: { method: 'unsubscribe', params: { channel: null } }, code: E.BadRequest.code },
  // publish
  {
    name: 'publish with an empty idempotency key',
    send: { method: 'publish', params: { channel: 'project:x', data: 1, idempotencyKey: '' } },
    code: E.BadRequest.code,
  },
  {
    name: 'publish with a 200-character idempotency key',
    send: { method: 'publish', params: { channel: 'project:x', data: 1, idempotencyKey: 'k'.repeat(200) } },
    code: E.BadRequest.code,
  },
  {
    name: 'publish with a numeric idempotency key',
    send: { method: 'publish', params: { channel: 'project:x', data: 1, idempotencyKey: 5 } },
    code: E.BadRequest.code,
  },
  { name: 'publish where client publish is disabled', send: { method: 'publish', params: { channel: 'analytics:1', data: 1 } }, code: E.NotAvailable.code },
  { name: 'publish to system (client publish disabled there)', send: { method: 'publish', params: { channel: 'system', data: 1 } }, code: E.NotAvailable.code },
  {
    name: 'publish data nested 10,000 arrays deep',
    send: `{"id":#ID#,"method":"publish","params":{"channel":"project:x","data":${nestedArrays(10_000)}}}`,
    code: E.BadRequest.code,
  },
  {
    name: 'publish data one level deeper than maxJsonDepth',
    send: `{"id":#ID#,"method":"publish","params":{"channel":"project:x","data":${nestedArrays(32)}}}`,
    code: E.BadRequest.code,
  },
  // history
  { name: 'history with a negative limit', send: { method: 'history', params: { channel: 'project:ok', limit: -1 } }, code: E.BadRequest.code },
  { name: 'history with a fractional limit', send: { method: 'history', params: { channel: 'project:ok', limit: 1.5 } }, code: E.BadRequest.code },
  { name: 'history with a string limit', send: { method: 'history', params: { channel: 'project:ok', limit: '10' } }, code: E.BadRequest.code },
  { name: 'history with a limit of 1e400', send: '{"id":#ID#,"method":"history","params":{"channel":"project:ok","limit":1e400}}', code: E.BadRequest.code },
  {
    name: 'history since an offset of 2^64',
    send: '{"id":#ID#,"method":"history","params":{"channel":"project:ok","since":{"offset":18446744073709551616,"epoch":"e"}}}',
    code: E.BadRequest.code,
  },
  {
    name: 'history since a 65-character epoch',
    send: { method: 'history', params: { channel: 'project:ok', since: { offset: 0, epoch: 'e'.repeat(65) } } },
    code: E.BadRequest.code,
  },
  {
    name: 'history since another epoch',
    send: { method: 'history', params: { channel: 'project:ok', since: { offset: 0, epoch: 'not-the-epoch' } } },
    code: E.UnrecoverablePosition.code,
  },
  { name: 'history with reverse as a number', send: { method: 'history', params: { channel: 'project:ok', reverse: 1 } }, code: E.BadRequest.code },
  // presence
  { name: 'presence with a numeric channel', send: { method: 'presence', params: { channel: 5 } }, code: E.BadRequest.code },
  { name: 'presence where presence is disabled', send: { method: 'presence', params: { channel: 'analytics:1' } }, code: E.NotAvailable.code },
  { name: 'presence_stats without params', send: { method: 'presence_stats' }, code: E.BadRequest.code },
  { name: 'presence_stats with an unknown field', send: { method: 'presence_stats', params: { channel: 'project:ok', all: true } }, code: E.BadRequest.code },
  {
    name: 'presence_set on a channel not subscribed',
    send: { method: 'presence_set', params: { channel: 'project:notsub', state: {} } },
    code: E.NotSubscribed.code,
  },
  {
    name: 'presence_set with a 2 KB state',
    send: { method: 'presence_set', params: { channel: 'project:ok', state: 'x'.repeat(2000) } },
    code: E.PayloadTooLarge.code,
  },
  {
    name: 'presence_set with state nested 10,000 objects deep',
    send: `{"id":#ID#,"method":"presence_set","params":{"channel":"project:ok","state":${nestedObjects(10_000)}}}`,
    code: E.BadRequest.code,
  },
  { name: 'presence_leave on a channel not subscribed', send: { method: 'presence_leave', params: { channel: 'project:never' } }, code: E.NotSubscribed.code },
  { name: 'presence_leave with a numeric channel', send: { method: 'presence_leave', params: { channel: 7 } }, code: E.BadRequest.code },
  { name: 'status idle (derived, not settable)', send: { method: 'status', params: { status: 'idle' } }, code: E.BadRequest.code },
  { name: 'status in capitals', send: { method: 'status', params: { status: 'ONLINE' } }, code: E.BadRequest.code },
  { name: 'status without params', send: { method: 'status' }, code: E.BadRequest.code },
  // signal
  { name: 'signal with a key containing a space', send: { method: 'signal', params: { channel: 'project:ok', key: 'has space' } }, code: E.BadRequest.code },
  { name: 'signal with an empty key', send: { method: 'signal', params: { channel: 'project:ok', key: '' } }, code: E.BadRequest.code },
  { name: 'signal with a 65-character key', send: { method: 'signal', params: { channel: 'project:ok', key: 'k'.repeat(65) } }, code: E.BadRequest.code },
  { name: 'signal on a channel not subscribed', send: { method: 'signal', params: { channel: 'project:notsub', key: 'typing' } }, code: E.NotSubscribed.code },
  {
    name: 'signal with 3 KB of data',
    send: { method: 'signal', params: { channel: 'project:ok', key: 'typing', data: 'x'.repeat(3000) } },
    code: E.PayloadTooLarge.code,
  },
  {
    name: 'signal data nested 10,000 arrays deep',
    send: `{"id":#ID#,"method":"signal","params":{"channel":"project:ok","key":"k","data":${nestedArrays(10_000)}}}`,
    code: E.BadRequest.code,
  },
  // ping
  { name: 'ping with an unknown field', send: { method: 'ping', params: { x: 1 } }, code: E.BadRequest.code },
  { name: 'ping with params as an array', send: { method: 'ping', params: [] }, code: E.BadRequest.code },
  { name: 'ping with params as a string', send: { method: 'ping', params: 'hello' }, code: E.BadRequest.code },
  { name: 'params nested 10,000 arrays deep', send: `{"id":#ID#,"method":"ping","params":${nestedArrays(10_000)}}`, code: E.BadRequest.code },
  // methods
  { name: 'unknown method', send: { method: 'foo' }, code: E.MethodNotFound.code },
  { name: 'method in capitals', send: { method: 'PING' }, code: E.MethodNotFound.code },
  { name: 'method __proto__', send: { method: '__proto__' }, code: E.MethodNotFound.code },
  { name: 'method constructor', send: { method: 'constructor' }, code: E.MethodNotFound.code },
  { name: 'method hasOwnProperty', send: { method: 'hasOwnProperty' }, code: E.MethodNotFound.code },
  { name: 'method toString', send: { method: 'toString' }, code: E.MethodNotFound.code },
  { name: 'method of 10,000 characters', send: { method: 'm'.repeat(10_000) }, code: E.MethodNotFound.code },
  { name: 'numeric method', send: '{"id":#ID#,"method":5}', code: E.BadRequest.code },
  { name: 'null method', send: '{"id":#ID#,"method":null}', code: E.BadRequest.code },
  { name: 'missing method', send: '{"id":#ID#}', code: E.BadRequest.code },
  // prototype keys inside params
  {
    name: 'params with an own __proto__ key',
    send: '{"id":#ID#,"method":"subscribe","params":{"channel":"project:p","__proto__":{"x":1}}}',
    code: E.BadRequest.code,
  },
  {
    name: 'params whose only channel is inside __proto__',
    send: '{"id":#ID#,"method":"subscribe","params":{"__proto__":{"channel":"project:ok"}}}',
    code: E.BadRequest.code,
  },
  // prototype keys as channel names
  { name: 'channel __proto__', send: { method: 'subscribe', params: { channel: '__proto__' } }, code: E.InvalidChannel.code },
  {
    name: 'channel constructor (valid syntax, undeclared namespace)',
    send: { method: 'subscribe', params: { channel: 'constructor' } },
    code: E.UnknownChannel.code,
  },
  { name: 'channel constructor:prototype', send: { method: 'subscribe', params: { channel: 'constructor:prototype' } }, code: E.UnknownChannel.code },
  { name: 'channel hasOwnProperty', send: { method: 'subscribe', params: { channel: 'hasOwnProperty' } }, code: E.InvalidChannel.code },
  { name: 'channel toString', send: { method: 'subscribe', params: { channel: 'toString' } }, code: E.InvalidChannel.code },
  { name: 'channel __proto__:1', send: { method: 'publish', params: { channel: '__proto__:1', data: 1 } }, code: E.InvalidChannel.code },
  { name: 'history of channel valueOf', send: { method: 'history', params: { channel: 'valueOf' } }, code: E.InvalidChannel.code },
  { name: 'presence of channel __proto__', send: { method: 'presence', params: { channel: '__proto__' } }, code: E.InvalidChannel.code },
];

/** Frames that are not commands: the documented protocol close 3501. */
const closeCases: Array<{ name: string; send: string | Buffer }> = [
  { name: 'non-JSON text', send: 'hello' },
  { name: 'truncated JSON', send: '{"id":1' },
  { name: 'JSON null', send: 'null' },
  { name: 'a JSON array', send: '[]' },
  { name: 'a JSON string', send: '"ping"' },
  { name: 'a JSON number', send: '42' },
  { name: 'a JSON boolean', send: 'true' },
  { name: '32,000 nested arrays as the frame', send: nestedArrays(32_000) },
  { name: 'a command without id', send: '{"method":"ping"}' },
  { name: 'id 0', send: '{"id":0,"method":"ping"}' },
  { name: 'id -1', send: '{"id":-1,"method":"ping"}' },
  { name: 'id -0', send: '{"id":-0,"method":"ping"}' },
  { name: 'id 1.5', send: '{"id":1.5,"method":"ping"}' },
  { name: 'id as a string', send: '{"id":"1","method":"ping"}' },
  { name: 'id null', send: '{"id":null,"method":"ping"}' },
  { name: 'id true', send: '{"id":true,"method":"ping"}' },
  { name: 'id as an object', send: '{"id":{"valueOf":1},"method":"ping"}' },
  { name: 'id 2^53 (not a safe integer)', send: '{"id":9007199254740992,"method":"ping"}' },
  { name: 'id 2^64', send: '{"id":18446744073709551616,"method":"ping"}' },
  { name: 'id 1e400 (Infinity)', send: '{"id":1e400,"method":"ping"}' },
  { name: 'a binary frame after connect', send: Buffer.from('{"id":1,"method":"ping"}') },
];

describe('hostile application frames', () => {
  const ctx = hostileServer();
  let victim: WireClient;
  let nonce = 0;

  /** The victim's subscription to project:ok still delivers. */
  async function expectSubscriptionWorks(): Promise<void> {
    const n = ++nonce;
    expect((await ctx().publish('acme', 'project:ok', { n })).status).toBe(200);
    await victim.waitJson((f) => f['push'] === 'pub' && f['channel'] === 'project:ok' && (f['data'] as { n?: number })?.n === n);
  }

  let nextId = 10_000;
  function sendCase(c: WireClient, send: ErrorCase['send']): number {
    const id = nextId++;
    if (typeof send === 'string') c.text(send.replace('#ID#', String(id)));
    else c.command(send.method, send.params, id);
    return id;
  }

  beforeAll(async () => {
    victim = await ctx().connect('victor');
    for (const channel of ['project:ok', 'project:__proto__']) expect((await victim.call('subscribe', { channel }))['error']).toBeUndefined();
  });

  it.each(errorCases)('$name → reply error $code, the connection and its subscriptions keep working', async (tc) => {
    const id = sendCase(victim, tc.send);
    const err = replyError(await victim.reply(id));
    expect(err.code).toBe(tc.code);
    expect(err.temporary).toBe(false);
    expect(victim.close).toBeNull();
    await expectSubscriptionWorks();
  });

  it.each(closeCases)('$name → close 3501', async (tc) => {
    const c = await ctx().connect('mallory');
    const before = c.json.length;
    if (Buffer.isBuffer(tc.send)) c.send({ opcode: Op.Binary, payload: tc.send });
    else c.text(tc.send);
    await expectClosed(c, 3501);
    expect(c.json.slice(before)).toEqual([]);
  });

  it('a broken frame closes with 3501 and no later frame of the message is executed', async () => {
    const c = await ctx().connect('mallory');
    c.text('{"id":2,"method":"ping"}\nGARBAGE\n{"id":3,"method":"publish","params":{"channel":"project:after-garbage","data":1}}');
    await expectClosed(c, 3501);
    expect(c.json.some((f) => f['id'] === 3)).toBe(false);
    const history = await victim.call('history', { channel: 'project:after-garbage' });
    expect(history['result']).toMatchObject({ publications: [], offset: 0 });
  });

  it('a frame that is only whitespace and newlines is ignored', async () => {
    victim.text('   \n\n \t \n');
    expect((await victim.call('ping'))['result']).toEqual({});
    expect(victim.close).toBeNull();
  });

  it('a repeated id while the first is in flight gets 115; the first still gets its result', async () => {
    victim.text('{"id":777,"method":"history","params":{"channel":"project:ok"}}\n{"id":777,"method":"ping"}');
    await victim.until(() => victim.json.filter((f) => f['id'] === 777).length === 2, 5000, 'two replies');
    const replies = victim.json.filter((f) => f['id'] === 777);
    expect(replies.map((f) => (f['error'] as { code?: number } | undefined)?.code ?? 'result').sort()).toEqual([E.DuplicateId.code, 'result']);
    await expectSubscriptionWorks();
  });

  it('duplicate JSON keys: the last one wins, as in JSON.parse', async () => {
    victim.text('{"id":881,"id":882,"method":"ping"}');
    expect((await victim.reply(882))['result']).toEqual({});
    expect(victim.json.some((f) => f['id'] === 881)).toBe(false);
  });

  it('unknown fields beside params, even nested 10,000 deep, are ignored', async () => {
    victim.text(`{"id":990,"method":"ping","x":${nestedArrays(10_000)}}`);
    expect((await victim.reply(990))['result']).toEqual({});
  });

  it('data nested exactly to maxJsonDepth is accepted', async () => {
    victim.text(`{"id":991,"method":"publish","params":{"channel":"project:ok","data":${nestedArrays(31)}}}`);
    expect((await victim.reply(991))['result']).toBeDefined();
  });

  it('a command before connect gets 101 and the connection stays open', async () => {
    const c = await ctx().open({ label: 'acme' });
    for (const method of [
      'subscribe',
      'publish',
      'history',
      'presence',
      'presence_stats',
      'presence_set',
      'presence_leave',
      'status',
      'signal',
      'refresh',
      'unsubscribe',
    ]) {
      const err = replyError(await c.call(method, { channel: 'project:1' }));
      expect(err.code, method).toBe(E.Unauthorized.code);
    }
    expect(c.close).toBeNull();
  });

  describe('prototype keys are plain data', () => {
    const proto = '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"hasOwnProperty":"x","toString":1}';

    it('a publication with __proto__, constructor and hasOwnProperty keys is stored and delivered verbatim', async () => {
      const pub = await ctx().connect('pat');
      pub.text(`{"id":1,"method":"publish","params":{"channel":"project:__proto__","data":${proto}}}`);
      expect((await pub.reply(1))['result']).toBeDefined();
      await victim.waitJson((f) => f['push'] === 'pub' && f['channel'] === 'project:__proto__');
      const raw = victim.messages.map((m) => m.data.toString()).find((t) => t.includes('"channel":"project:__proto__"'));
      expect(raw).toContain(`"data":${proto}`);
      const history = await victim.call('history', { channel: 'project:__proto__' });
      const text = victim.messages.map((m) => m.data.toString()).find((t) => t.includes(`"id":${history['id']},`));
      expect(text).toContain(proto);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });

    it('presence state with prototype keys is echoed as data', async () => {
      const c = await ctx().connect('presley');
      await c.call('subscribe', { channel: 'project:__proto__' });
      c.text(`{"id":50,"method":"presence_set","params":{"channel":"project:__proto__","state":${proto}}}`);
      expect((await c.reply(50))['result']).toEqual({});
      const reply = await c.call('presence', { channel: 'project:__proto__' });
      const text = c.messages.map((m) => m.data.toString()).find((t) => t.includes(`"id":${reply['id']},`));
      expect(text).toContain(`"state":${proto}`);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });

    it('signal data with prototype keys reaches the other subscriber verbatim', async () => {
      const c = await ctx().connect('sig');
      await c.call('subscribe', { channel: 'project:__proto__' });
      c.text(`{"id":60,"method":"signal","params":{"channel":"project:__proto__","key":"cursor","data":${proto}}}`);
      expect((await c.reply(60))['result']).toEqual({});
      await victim.waitJson((f) => f['push'] === 'signal' && f['key'] === 'cursor');
      const raw = victim.messages.map((m) => m.data.toString()).find((t) => t.includes('"key":"cursor"'));
      expect(raw).toContain(`"data":${proto}`);
    });

    it('idempotency keys named __proto__ and constructor deduplicate like any other key', async () => {
      for (const key of ['__proto__', 'constructor']) {
        const first = await victim.call('publish', { channel: 'project:ok', data: key, idempotencyKey: key });
        const again = await victim.call('publish', { channel: 'project:ok', data: key, idempotencyKey: key });
        expect(again['result']).toEqual({ ...(first['result'] as object), deduplicated: true });
      }
    });

    it('user and tenant ids named __proto__ and constructor are plain ids', async () => {
      const c = await ctx().connect('__proto__', { tenant: 'constructor' });
      const joined = await c.call('subscribe', { channel: 'project:1' });
      expect(joined['error']).toBeUndefined();
      await c.call('presence_set', { channel: 'project:1', state: { ok: true } });
      const members = (await c.call('presence', { channel: 'project:1' }))['result'] as { members: Array<{ user: string }> };
      expect(members.members.map((m) => m.user)).toEqual(['__proto__']);
      const hasOwn = await ctx().connect('hasOwnProperty', { tenant: '__proto__' });
      expect((await hasOwn.call('history', { channel: 'project:1' }))['result']).toMatchObject({ publications: [] });
    });
  });
});

/** Gaps this suite found in the server, fixed since; kept as regression cases. */
describe('fixed gaps: application frames', () => {
  const ctx = hostileServer();

  it('GAP-4: a number beyond double range (1e400) in publish data is refused with 107, not published as null', async () => {
    const c = await ctx().connect('huge');
    await c.call('subscribe', { channel: 'project:huge' });
    c.text('{"id":10,"method":"publish","params":{"channel":"project:huge","data":{"n":1e400}}}');
    expect(replyError(await c.reply(10)).code).toBe(E.BadRequest.code);
    expect(c.json.some((f) => f['push'] === 'pub')).toBe(false);
  });

  it('GAP-4: a number beyond double range (1e400) in presence state is refused with 107', async () => {
    const c = await ctx().connect('huge2');
    await c.call('subscribe', { channel: 'project:huge' });
    c.text('{"id":11,"method":"presence_set","params":{"channel":"project:huge","state":{"n":-1e400}}}');
    expect(replyError(await c.reply(11)).code).toBe(E.BadRequest.code);
  });

  it('GAP-7: a channel name over 1,024 characters gets 110 (invalid channel), like any name over the length limit', async () => {
    const c = await ctx().connect('longname');
    for (const method of ['subscribe', 'history', 'presence']) {
      expect(replyError(await c.call(method, { channel: `project:${'a'.repeat(2000)}` })).code, method).toBe(E.InvalidChannel.code);
    }
  });
});

describe('hostile payloads against a namespace schema', () => {
  const tree = { $defs: { node: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 4 } }, $ref: '#/$defs/node' };
  const strict = { type: 'object', properties: { text: { type: 'string', maxLength: 100 } }, required: ['text'], additionalProperties: false };
  const DOC_CAPS = { 'doc:*': ['subscribe', 'publish', 'signal'] };
  const ctx = hostileServer({
    namespaces: {
      project: {},
      chat: {},
      doc: { schemas: { publication: strict, signal: tree } },
      analytics: { clientPublish: false, presence: false },
      user: { subscribe: 'owner', clientPublish: false, presence: false },
      system: { subscribe: 'authenticated', clientPublish: false, presence: false, signals: false },
    },
  });
  const cases: Array<{ name: string; send: string; code: number }> = [
    { name: 'a __proto__ key where no extra key is allowed', send: '{"text":"a","__proto__":{"admin":true}}', code: 119 },
    { name: 'a constructor key', send: '{"text":"a","constructor":{"prototype":{}}}', code: 119 },
    { name: 'a number beyond 2^1024 (Infinity) for a string', send: '{"text":1e400}', code: 107 },
    { name: 'a lone UTF-16 surrogate in an extra key', send: '{"text":"a","\\ud800":1}', code: 119 },
    { name: 'a 101-character text (maxLength counts code points)', send: `{"text":"${'😀'.repeat(101)}"}`, code: 119 },
    { name: 'nesting one level deeper than maxJsonDepth', send: `{"text":${'['.repeat(32)}${']'.repeat(32)}}`, code: 107 },
  ];

  it.each(cases)('publish $name → $code, the connection keeps working', async (tc) => {
    const c = await ctx().connect('mallory', { caps: DOC_CAPS });
    c.text(`{"id":7,"method":"publish","params":{"channel":"doc:h","data":${tc.send}}}`);
    expect(replyError(await c.reply(7)).code).toBe(tc.code);
    expect((await c.call('publish', { channel: 'doc:h', data: { text: 'fine' } }))['error']).toBeUndefined();
    expect(c.close).toBeNull();
  });

  it('a recursive schema against data at the nesting limit answers 119, not a stack overflow', async () => {
    const c = await ctx().connect('mallory', { caps: DOC_CAPS });
    expect((await c.call('subscribe', { channel: 'doc:tree' }))['error']).toBeUndefined();
    const deep = `${'['.repeat(30)}[1]${']'.repeat(30)}`;
    c.text(`{"id":8,"method":"signal","params":{"channel":"doc:tree","key":"k","data":${deep}}}`);
    const err = replyError(await c.reply(8));
    expect(err.code).toBe(119);
    expect(err.message).toContain('signal data/0/0/0');
    c.text(`{"id":9,"method":"signal","params":{"channel":"doc:tree","key":"k","data":${'['.repeat(30)}${']'.repeat(30)}}}`);
    expect(await c.reply(9)).toMatchObject({ id: 9, result: {} });
  });
});
