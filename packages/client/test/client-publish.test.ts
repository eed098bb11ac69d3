import { describe, expect, it, vi } from 'vitest';
import { ClientCode, ErrorCode } from '../src/index.js';
import { acceptConnect, createClient, FakeSocket, flush, useFakes } from './fake-socket.js';

useFakes();

const CH = 'project:1';

function publishes(socket: FakeSocket) {
  return socket.commands('publish').map((f) => [f.params?.['data'], f.params?.['idempotencyKey']]);
}

describe('publish', () => {
  it('sends at once when connected, with an idempotency key, and resolves with the result', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    await flush();
    const result = client.publish(CH, { text: 'hi' });
    expect(socket.lastCommand('publish').params).toEqual({ channel: CH, data: { text: 'hi' }, idempotencyKey: 'key-1' });
    socket.reply('publish', { offset: 3, epoch: 'e1' });
    await expect(result).resolves.toEqual({ offset: 3, epoch: 'e1' });
  });

  it('rejects with a typed SwitchboardError on a reply error', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    await flush();
    const result = client.publish('system', 'x');
    socket.replyError('publish', { code: 108, message: 'not available', temporary: false });
    await expect(result).rejects.toMatchObject({ name: 'SwitchboardError', code: 108, temporary: false });
  });

  it('rejects an invalid channel name without sending', async () => {
    const client = createClient();
    await expect(client.publish('no spaces', 1)).rejects.toMatchObject({ code: ErrorCode.InvalidChannel.code });
  });
});

describe('offline queue', () => {
  it('queues publishes while offline and flushes them in order after resubscription', async () => {
    const client = createClient();
    const sub = client.subscribe(CH);
    const results = [sub.publish('a'), client.publish('project:2', 'b'), sub.publish('c')];
    client.connect();
    const socket = acceptConnect();
    await flush();
    expect(socket.commands('publish')).toHaveLength(0);
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    await flush();
    expect(publishes(socket)).toEqual([
      ['a', 'key-1'],
      ['b', 'key-2'],
      ['c', 'key-3'],
    ]);
    // One message for the whole flush.
    expect(socket.messages.at(-1)!.split('\n')).toHaveLength(3);
    for (const [i, frame] of socket.commands('publish').entries()) socket.receive({ id: frame.id, result: { offset: i + 1, epoch: 'e1' } });
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3].map((offset) => ({ offset, epoch: 'e1' })));
  });

  it('keeps later publishes behind the queued ones while the flush is pending', async () => {
    const client = createClient();
    client.subscribe(CH);
    void client.publish(CH, 'early');
    client.connect();
    const socket = acceptConnect();
    void client.publish(CH, 'late');
    socket.reply('subscribe', { epoch: 'e1', offset: 0, recoverable: true });
    await flush();
    expect(publishes(socket).map(([data]) => data)).toEqual(['early', 'late']);
  });

  it('is bounded: a publish beyond maxSize rejects with a typed error', async () => {
    const client = createClient({ offlineQueue: { maxSize: 2 } });
    void client.publish(CH, 1);
    void client.publish(CH, 2);
    await expect(client.publish(CH, 3)).rejects.toMatchObject({
      code: ClientCode.OfflineQueueFull.code,
      temporary: true,
    });
    client.connect();
    const socket = acceptConnect();
    await flush();
    expect(publishes(socket).map(([data]) => data)).toEqual([1, 2]);
  });

  it('requeues an in-flight publish on a drop and retries it with the same key, settling once', async () => {
    const client = createClient();
    client.connect();
    let socket = acceptConnect();
    await flush();
    let settled = 0;
    const first = client.publish(CH, 'x').finally(() => settled++);
    expect(publishes(socket)).toEqual([['x', 'key-1']]);
    socket.serverClose(1006);
    const second = client.publish(CH, 'y');
    await flush();
    expect(settled).toBe(0);
    vi.advanceTimersByTime(250);
    socket = acceptConnect();
    await flush();
    expect(publishes(socket)).toEqual([
      ['x', 'key-1'],
      ['y', 'key-2'],
    ]);
    const [x, y] = socket.commands('publish');
    socket.receive({ id: x!.id, result: { offset: 1, epoch: 'e1', deduplicated: true } }, { id: y!.id, result: { offset: 2, epoch: 'e1' } });
    await expect(first).resolves.toEqual({ offset: 1, epoch: 'e1', deduplicated: true });
    await expect(second).resolves.toEqual({ offset: 2, epoch: 'e1' });
    expect(settled).toBe(1);
  });

  it('keeps requeued publishes across several failed reconnects', async () => {
    const client = createClient();
    client.connect();
    acceptConnect();
    await flush();
    void client.publish(CH, 'x');
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(250);
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(500);
    const socket = acceptConnect();
    await flush();
    expect(publishes(socket)).toEqual([['x', 'key-1']]);
  });

  it('rejects queued and in-flight publishes on disconnect()', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    await flush();
    const inFlight = client.publish(CH, 1);
    socket.serverClose(1006);
    const queued = client.publish(CH, 2);
    client.disconnect();
    await expect(inFlight).rejects.toMatchObject({ code: ClientCode.ClientDisconnected.code, temporary: false });
    await expect(queued).rejects.toMatchObject({ code: ClientCode.ClientDisconnected.code });
  });

  it('rejects queued publishes on a terminal close', async () => {
    const client = createClient();
    client.connect();
    FakeSocket.last().open();
    const queued = client.publish(CH, 1);
    FakeSocket.last().serverClose(3503, 'connection limit reached');
    await expect(queued).rejects.toMatchObject({
      code: ClientCode.ClientDisconnected.code,
      message: 'client disconnected: connection limit reached',
    });
  });

  it('rejects a publish that gets no reply within commandTimeout', async () => {
    const client = createClient({ commandTimeout: 1000 });
    client.connect();
    acceptConnect();
    await flush();
    const result = client.publish(CH, 1);
    const expectation = expect(result).rejects.toMatchObject({ code: ClientCode.Timeout.code, temporary: true });
    vi.advanceTimersByTime(1000);
    await expectation;
  });
});

describe('a socket that is closing', () => {
  it('writes nothing to it (a browser would drop the message and log an error), and the publish is sent once on the next connection', async () => {
    const client = createClient();
    client.connect();
    const first = acceptConnect();
    await flush();
    first.serverClosing();
    const result = client.publish(CH, { text: 'while closing' });
    await flush();
    expect(first.sentAfterClose).toEqual([]);
    first.serverClose(1006);
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
    const second = acceptConnect();
    await flush();
    expect(publishes(second)).toEqual([[{ text: 'while closing' }, 'key-1']]);
    second.reply('publish', { offset: 1, epoch: 'e1' });
    await expect(result).resolves.toEqual({ offset: 1, epoch: 'e1' });
    expect(first.sentAfterClose).toEqual([]);
  });
});
