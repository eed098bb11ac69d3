import { describe, expect, it, vi } from 'vitest';
import { ClientCode, ErrorCode, type SubscriptionEvents } from '../src/index.js';
import { acceptConnect, createClient, FakeSocket, flush, record, useFakes } from './fake-socket.js';

useFakes();

const CH = 'project:1';
const pub = (offset: number, data: unknown = offset) => ({ push: 'pub', channel: CH, offset, time: 1000 + offset, data });

/** A connected client with a subscribed channel at (epoch e1, offset `offset`). */
function subscribed(offset = 0, recoverable = true) {
  const client = createClient();
  const sub = client.subscribe<unknown, { page: string }>(CH);
  client.connect();
  const socket = acceptConnect();
  socket.reply('subscribe', { epoch: 'e1', offset, recoverable });
  const data: unknown[] = [];
  sub.on('publication', (p) => data.push(p.data));
  return { client, sub, socket, data };
}

/** Drop the connection and accept the reconnect; returns the new socket. */
function reconnect(): FakeSocket {
  FakeSocket.last().serverClose(1006);
  vi.advanceTimersByTime(250);
  return acceptConnect();
}

describe('subscription state machine', () => {
  it('subscribes once connected when created while disconnected, with events on each transition', () => {
    const client = createClient();
    const sub = client.subscribe(CH);
    expect(sub.state).toBe('subscribing');
    const log = record<SubscriptionEvents>(sub, ['state', 'subscribed', 'subscribing', 'unsubscribed']);
    client.connect();
    const socket = acceptConnect();
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: CH });
    socket.reply('subscribe', { epoch: 'e1', offset: 7, recoverable: true });
    expect(sub.state).toBe('subscribed');
    expect(log).toEqual([
      ['state', { channel: CH, state: 'subscribed', previous: 'subscribing', code: 12, reason: 'subscribed' }],
      ['subscribed', { channel: CH, code: 12, reason: 'subscribed', epoch: 'e1', offset: 7, recoverable: true, wasRecovering: false, recovered: false }],
    ]);
  });

  it('returns the same object for the same channel until it is unsubscribed', () => {
    const { client, sub, socket } = subscribed();
    expect(client.subscribe(CH)).toBe(sub);
    expect(client.getSubscription(CH)).toBe(sub);
    const log = record<SubscriptionEvents>(sub, ['unsubscribed']);
    sub.unsubscribe();
    expect(socket.lastCommand('unsubscribe').params).toEqual({ channel: CH });
    expect(log).toEqual([['unsubscribed', { channel: CH, code: 11, reason: 'unsubscribe called' }]]);
    expect(client.getSubscription(CH)).toBeUndefined();
    expect(client.subscribe(CH)).not.toBe(sub);
  });

  it('goes subscribing with the close code when the connection drops', () => {
    const { sub } = subscribed();
    const log = record<SubscriptionEvents>(sub, ['subscribing']);
    FakeSocket.last().serverClose(3006, 'slow consumer, reconnect and recover');
    expect(sub.state).toBe('subscribing');
    expect(log).toEqual([['subscribing', { channel: CH, code: 3006, reason: 'slow consumer, reconnect and recover' }]]);
  });

  it('refuses an invalid channel name', () => {
    const client = createClient();
    expect(() => client.subscribe('Bad Channel')).toThrow(expect.objectContaining({ code: ErrorCode.InvalidChannel.code }));
  });
});

describe('a gap is never delivered silently', () => {
  const pubIn = (epoch: string, offset: number) => ({ ...pub(offset), epoch });

  it('a publication of another epoch makes it unsubscribe and subscribe again with recovery, and is not delivered', () => {
    const { sub, socket, data } = subscribed(10);
    socket.receive(pubIn('e1', 11));
    const log = record<SubscriptionEvents>(sub, ['subscribing', 'subscribed']);
    socket.receive(pubIn('e2', 1));
    expect(data).toEqual([11]);
    expect(sub.state).toBe('subscribing');
    expect(log).toEqual([['subscribing', { channel: CH, code: 3009, reason: 'insufficient state, resubscribe and recover' }]]);
    const sent = socket.frames.map((f) => f.method);
    expect(sent.slice(-2)).toEqual(['unsubscribe', 'subscribe']);
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 11, epoch: 'e1' } });
    socket.reply('unsubscribe', {});
    socket.reply('subscribe', { epoch: 'e2', offset: 3, recoverable: true, recovered: false, publications: [] });
    expect(log.at(-1)).toEqual(['subscribed', expect.objectContaining({ epoch: 'e2', offset: 3, recovered: false, wasRecovering: true })]);
    socket.receive(pubIn('e2', 4));
    expect(data).toEqual([11, 4]);
  });

  it('an offset that skips makes it recover the missed publications instead of delivering across the gap', () => {
    const { sub, socket, data } = subscribed(10);
    socket.receive(pubIn('e1', 11), pubIn('e1', 13));
    expect(data).toEqual([11]);
    expect(sub.state).toBe('subscribing');
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 11, epoch: 'e1' } });
    socket.reply('unsubscribe', {});
    socket.reply('subscribe', { epoch: 'e1', offset: 13, recoverable: true, recovered: true, publications: [pub(12), pub(13)] });
    expect(sub.state).toBe('subscribed');
    expect(data).toEqual([11, 12, 13]);
  });

  it('drops a repeated offset without resubscribing', () => {
    const { sub, socket, data } = subscribed(10);
    socket.receive(pubIn('e1', 11), pubIn('e1', 11), pubIn('e1', 10), pubIn('e1', 12));
    expect(data).toEqual([11, 12]);
    expect(sub.state).toBe('subscribed');
  });

  it('an unsubscribe push 3009 from the server leads to a resubscribe with recovery', () => {
    const { sub, socket } = subscribed(10);
    socket.receive(pubIn('e1', 11));
    socket.receive({ push: 'unsubscribe', channel: CH, code: 3009, reason: 'insufficient state, resubscribe and recover' });
    expect(sub.state).toBe('subscribing');
    vi.advanceTimersByTime(250);
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 11, epoch: 'e1' } });
  });
});

describe('recovery', () => {
  it('resubscribes after a reconnect with recover carrying the last offset seen', () => {
    const { socket } = subscribed(10);
    socket.receive(pub(11), pub(12));
    const next = reconnect();
    expect(next.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 12, epoch: 'e1' } });
  });

  it('delivers recovered publications in order before live ones, each exactly once', () => {
    const { socket, sub, data } = subscribed(0);
    socket.receive(pub(1), pub(2));
    const next = reconnect();
    const log = record<SubscriptionEvents>(sub, ['subscribed']);
    // Live publications that race ahead of the subscribe reply wait for it.
    next.receive(pub(5), pub(4));
    next.reply('subscribe', {
      epoch: 'e1',
      offset: 4,
      recoverable: true,
      recovered: true,
      publications: [pub(2), pub(3), pub(4)].map(({ push: _p, channel: _c, ...p }) => p),
    });
    next.receive(pub(5), pub(6));
    expect(data).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log[0]![1]).toMatchObject({ recovered: true, wasRecovering: true });
  });

  it('keeps a publication that arrives before the subscribe reply and delivers it after subscribed', () => {
    const client = createClient();
    const sub = client.subscribe(CH);
    const log: string[] = [];
    sub.on('subscribed', () => log.push('subscribed'));
    sub.on('publication', (p) => log.push(`pub ${p.offset}`));
    client.connect();
    const socket = acceptConnect();
    socket.receive(pub(1));
    expect(log).toEqual([]);
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    expect(log).toEqual(['subscribed', 'pub 1']);
  });

  it('tells the app when recovery failed so it can reload', () => {
    const { socket, sub, data } = subscribed(0);
    socket.receive(pub(1));
    const next = reconnect();
    const log = record<SubscriptionEvents>(sub, ['subscribed']);
    next.reply('subscribe', { epoch: 'e2', offset: 40, recoverable: true, recovered: false });
    expect(log).toEqual([
      ['subscribed', { channel: CH, code: 12, reason: 'subscribed', epoch: 'e2', offset: 40, recoverable: true, wasRecovering: true, recovered: false }],
    ]);
    next.receive(pub(40), pub(41));
    expect(data).toEqual([1, 41]);
    const again = reconnect();
    expect(again.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 41, epoch: 'e2' } });
  });

  it('subscribes without recover after an unrecoverable position error, and reports recovered: false', () => {
    const { socket, sub } = subscribed(3);
    socket.receive(pub(4));
    const next = reconnect();
    const log = record<SubscriptionEvents>(sub, ['subscribed', 'error']);
    next.replyError('subscribe', { code: ErrorCode.UnrecoverablePosition.code, message: 'unrecoverable position', temporary: false });
    expect(next.lastCommand('subscribe').params).toEqual({ channel: CH });
    next.reply('subscribe', { epoch: 'e9', offset: 0, recoverable: true });
    expect(log).toEqual([['subscribed', expect.objectContaining({ wasRecovering: true, recovered: false, epoch: 'e9' })]]);
  });

  it('drops publications at or below the last seen offset', () => {
    const { socket, data } = subscribed(0);
    socket.receive(pub(1), pub(2), pub(2), pub(1), pub(3));
    socket.receive(pub(3, 'again'));
    expect(data).toEqual([1, 2, 3]);
  });

  it('does not send recover for a channel without history, and delivers its publications', () => {
    const { socket, data } = subscribed(0, false);
    socket.receive(pub(0, 'a'), pub(0, 'b'));
    expect(data).toEqual(['a', 'b']);
    const next = reconnect();
    expect(next.lastCommand('subscribe').params).toEqual({ channel: CH });
  });

  it('delivers publisher info with the publication', () => {
    const { socket, sub } = subscribed(0);
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p));
    socket.receive({ ...pub(1, 'x'), info: { user: 'bob', client: 'c9' } });
    expect(got).toEqual([{ channel: CH, offset: 1, time: 1001, data: 'x', info: { user: 'bob', client: 'c9' } }]);
  });
});

describe('server-side unsubscribe and subscribe errors', () => {
  it('does not resubscribe after an unsubscribe push with a terminal code', () => {
    const { client, socket, sub } = subscribed();
    const log = record<SubscriptionEvents>(sub, ['unsubscribed']);
    socket.receive({ push: 'unsubscribe', channel: CH, code: 3502, reason: 'removed by operator' });
    expect(sub.state).toBe('unsubscribed');
    expect(log).toEqual([['unsubscribed', { channel: CH, code: 3502, reason: 'removed by operator' }]]);
    vi.advanceTimersByTime(60_000);
    expect(socket.commands('subscribe')).toHaveLength(1);
    expect(client.getSubscription(CH)).toBeUndefined();
  });

  it('resubscribes with recovery after an unsubscribe push with a reconnect code', () => {
    const { socket, sub } = subscribed(5);
    socket.receive({ push: 'unsubscribe', channel: CH, code: 3008, reason: 'force reconnect' });
    expect(sub.state).toBe('subscribing');
    vi.advanceTimersByTime(250);
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: CH, recover: { offset: 5, epoch: 'e1' } });
  });

  it('ends the subscription on a permanent subscribe error and retries a temporary one with backoff', () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const denied = client.subscribe('project:secret');
    const limited = client.subscribe('project:busy');
    const errors: unknown[] = [];
    denied.on('error', (e) => errors.push([e.channel, e.error.code, e.during]));
    limited.on('error', (e) => errors.push([e.channel, e.error.code, e.during]));
    const [deniedCmd, limitedCmd] = socket.commands('subscribe');
    socket.receive(
      { id: deniedCmd!.id, error: { code: 103, message: 'permission denied', temporary: false } },
      { id: limitedCmd!.id, error: { code: 111, message: 'too many requests', temporary: true } },
    );
    expect(denied.state).toBe('unsubscribed');
    expect(limited.state).toBe('subscribing');
    expect(errors).toEqual([
      ['project:secret', 103, 'subscribe'],
      ['project:busy', 111, 'subscribe'],
    ]);
    vi.advanceTimersByTime(249);
    expect(socket.commands('subscribe')).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: 'project:busy' });
  });
});

describe('presence', () => {
  it('enters presence after subscribing and again after every resubscribe', async () => {
    const client = createClient();
    const sub = client.subscribe<unknown, { page: string }>(CH);
    const entered = sub.enterPresence({ page: '/a' });
    client.connect();
    let socket = acceptConnect();
    expect(socket.commands('presence_set')).toHaveLength(0);
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    expect(socket.lastCommand('presence_set').params).toEqual({ channel: CH, state: { page: '/a' } });
    socket.reply('presence_set', {});
    await expect(entered).resolves.toBeUndefined();

    await Promise.all([sub.updatePresence({ page: '/b' }), Promise.resolve(socket.reply('presence_set', {}))]);
    socket = reconnect();
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true, recovered: true, publications: [] });
    expect(socket.lastCommand('presence_set').params).toEqual({ channel: CH, state: { page: '/b' } });
  });

  it('does not re-enter presence after leavePresence', async () => {
    const { sub, socket } = subscribed();
    const entered = sub.enterPresence({ page: '/a' });
    socket.reply('presence_set', {});
    await entered;
    const left = sub.leavePresence();
    socket.reply('presence_leave', {});
    await left;
    const next = reconnect();
    next.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    expect(next.commands('presence_set')).toHaveLength(0);
  });

  it('keeps an enterPresence call waiting across a dropped connection', async () => {
    const { sub, socket } = subscribed();
    let settled = false;
    const entered = sub.enterPresence({ page: '/a' }).then(() => (settled = true));
    socket.serverClose(1006);
    await flush();
    expect(settled).toBe(false);
    vi.advanceTimersByTime(250);
    const next = acceptConnect();
    next.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    next.reply('presence_set', {});
    await entered;
    expect(settled).toBe(true);
  });

  it('emits join, leave and update pushes', () => {
    const { sub, socket } = subscribed();
    const log = record<SubscriptionEvents>(sub, ['join', 'leave', 'update']);
    const device = { client: 'c2', status: 'online', state: { page: '/x' }, since: 5 };
    socket.receive(
      { push: 'join', channel: CH, user: 'bob', device },
      { push: 'update', channel: CH, user: 'bob', device: { ...device, status: 'away' } },
      { push: 'leave', channel: CH, user: 'bob', device },
    );
    expect(log.map(([name, e]) => [name, (e as { user: string }).user])).toEqual([
      ['join', 'bob'],
      ['update', 'bob'],
      ['leave', 'bob'],
    ]);
  });

  it('reads presence and stats once subscribed', async () => {
    const client = createClient();
    const sub = client.subscribe(CH);
    client.connect();
    const socket = acceptConnect();
    const members = sub.presence();
    await flush();
    expect(socket.commands('presence')).toHaveLength(0);
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    await flush();
    socket.reply('presence', { members: [{ user: 'bob', status: 'online', devices: [] }] });
    await expect(members).resolves.toEqual([{ user: 'bob', status: 'online', devices: [] }]);
    const stats = sub.presenceStats();
    await flush();
    socket.reply('presence_stats', { users: 1, connections: 2 });
    await expect(stats).resolves.toEqual({ users: 1, connections: 2 });
  });
});

describe('signals', () => {
  it('throttles signals per key with the latest value winning', () => {
    const { sub, socket } = subscribed();
    sub.signal('cursor', { x: 1 });
    sub.signal('cursor', { x: 2 });
    sub.signal('cursor', { x: 3 });
    sub.signal('typing', true);
    expect(socket.commands('signal').map((f) => f.params)).toEqual([
      { channel: CH, key: 'cursor', data: { x: 1 } },
      { channel: CH, key: 'typing', data: true },
    ]);
    vi.advanceTimersByTime(50);
    expect(socket.commands('signal').map((f) => f.params?.['data'])).toEqual([{ x: 1 }, true, { x: 3 }]);
  });

  it('never queues signals while not subscribed', () => {
    const { sub, socket } = subscribed();
    socket.serverClose(1006);
    sub.signal('typing', true);
    vi.advanceTimersByTime(250);
    const next = acceptConnect();
    next.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    vi.advanceTimersByTime(1000);
    expect(next.commands('signal')).toHaveLength(0);
  });

  it('emits signal pushes', () => {
    const { sub, socket } = subscribed();
    const log = record<SubscriptionEvents>(sub, ['signal']);
    socket.receive({ push: 'signal', channel: CH, from: { user: 'bob', client: 'c2' }, key: 'typing', data: true });
    expect(log).toEqual([['signal', { channel: CH, from: { user: 'bob', client: 'c2' }, key: 'typing', data: true }]]);
  });
});

describe('history', () => {
  it('waits for the subscription, then returns the page', async () => {
    const client = createClient();
    const sub = client.subscribe(CH);
    const page = sub.history({ limit: 2, reverse: true });
    client.connect();
    const socket = acceptConnect();
    socket.reply('subscribe', { epoch: 'e1', offset: 2, recoverable: true });
    await flush();
    expect(socket.lastCommand('history').params).toEqual({ channel: CH, limit: 2, reverse: true });
    socket.reply('history', { publications: [{ offset: 2, time: 1, data: 'b' }], epoch: 'e1', offset: 2 });
    await expect(page).resolves.toEqual({ publications: [{ offset: 2, time: 1, data: 'b' }], epoch: 'e1', offset: 2 });
  });

  it('rejects with a typed error when the server refuses', async () => {
    const { sub, socket } = subscribed();
    const page = sub.history();
    await flush();
    socket.replyError('history', { code: 108, message: 'not available', temporary: false });
    await expect(page).rejects.toMatchObject({ name: 'SwitchboardError', code: 108, message: 'not available', temporary: false });
  });

  it('rejects after commandTimeout when the subscription never completes', async () => {
    const client = createClient({ commandTimeout: 1000 });
    const sub = client.subscribe(CH);
    const page = sub.history();
    const expectation = expect(page).rejects.toMatchObject({ code: ClientCode.Timeout.code, temporary: true });
    vi.advanceTimersByTime(1000);
    await expectation;
  });

  it('rejects pending commands with a temporary error when the connection drops', async () => {
    const { sub, socket } = subscribed();
    const page = sub.history();
    await flush();
    expect(socket.commands('history')).toHaveLength(1);
    socket.serverClose(1006);
    await expect(page).rejects.toMatchObject({ code: ClientCode.ConnectionClosed.code, temporary: true });
  });
});
