import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from './helpers/manual-clock.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

type Member = { user: string; status: string; devices: Array<{ client: string; status: string; state: unknown }> };

/** A raw client of `s` that answers pings, as the SDK does. */
const connectLive = async (s: TestServer, sub: string) => {
  const c = await RawClient.connect(s.url, await s.token({ sub }));
  c.ws.on('message', (d: Buffer) => {
    if (d.toString().includes('"push":"ping"')) c.ws.send('{"method":"pong"}');
  });
  return c;
};

describe('presence', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const live = (sub: string) => connectLive(s, sub);

  it('shows one user on two connections as one member with two devices, and updates state without rejoining', async () => {
    const watcher = await live('watcher');
    await watcher.call('subscribe', { channel: 'project:p1' });
    const tab1 = await live('alice');
    const tab2 = await live('alice');
    await tab1.call('subscribe', { channel: 'project:p1' });
    await tab2.call('subscribe', { channel: 'project:p1' });
    await tab1.call('presence_set', { channel: 'project:p1', state: { page: '/a' } });
    await tab2.call('presence_set', { channel: 'project:p1', state: { page: '/b' } });
    const r = await watcher.call('presence', { channel: 'project:p1' });
    const members = r.result?.['members'] as Member[];
    expect(members).toHaveLength(1);
    expect(members[0]?.user).toBe('alice');
    expect(members[0]?.devices.map((d) => d.state)).toEqual(expect.arrayContaining([{ page: '/a' }, { page: '/b' }]));
    expect((await watcher.call('presence_stats', { channel: 'project:p1' })).result).toEqual({ users: 1, connections: 2 });
    await watcher.until(() => watcher.pushes('join', 'project:p1').length === 2, 3000, 'joins');

    await tab1.call('presence_set', { channel: 'project:p1', state: { page: '/c' } });
    const update = await watcher.waitFor(
      (f) => f.push === 'update' && (f['device'] as { state: unknown }).state !== null && JSON.stringify(f['device']).includes('/c'),
    );
    expect(update['user']).toBe('alice');
    expect(watcher.pushes('join', 'project:p1')).toHaveLength(2);

    await tab2.call('status', { status: 'away' });
    await watcher.waitFor((f) => f.push === 'update' && (f['device'] as { status: string }).status === 'away');

    tab2.close();
    const leave = await watcher.waitFor((f) => f.push === 'leave');
    expect(leave['user']).toBe('alice');
    const after = (await watcher.call('presence', { channel: 'project:p1' })).result?.['members'] as Member[];
    expect(after[0]?.devices).toHaveLength(1);
    tab1.close();
    watcher.close();
  });

  it('delivers signals to other subscribers but not back to the sender, and never stores them', async () => {
    const a = await live('sa');
    const b = await live('sb');
    await a.call('subscribe', { channel: 'project:sig' });
    await b.call('subscribe', { channel: 'project:sig' });
    expect((await a.call('signal', { channel: 'project:sig', key: 'typing', data: { on: true } })).error).toBeUndefined();
    const got = await b.waitFor((f) => f.push === 'signal');
    expect(got).toMatchObject({ channel: 'project:sig', key: 'typing', data: { on: true }, from: { user: 'sa' } });
    await a.call('ping');
    expect(a.pushes('signal')).toHaveLength(0);
    const h = await a.call('history', { channel: 'project:sig' });
    expect(h.result?.['publications']).toEqual([]);
    a.close();
    b.close();
  });
});

describe("presence idle status on the server's clock", () => {
  const clock = new ManualClock();
  let s: TestServer;
  beforeAll(async () => {
    // Pings far off, so moving the clock by the idle timeout never outruns a pong.
    s = await startTestServer({ now: clock.now, timeouts: { ping: '1h', pong: '1h', idle: '5m' } });
    clock.onMove(() => s.server.node.wheel.advance());
  });
  afterAll(async () => {
    await s.close();
  });

  it('marks a member idle after the idle timeout of inactivity and online again on activity, with no wall-clock wait', async () => {
    const watcher = await RawClient.connect(s.url, await s.token({ sub: 'w2' }));
    await watcher.call('subscribe', { channel: 'project:idle' });
    const bob = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
    await bob.call('subscribe', { channel: 'project:idle' });
    await bob.call('presence_set', { channel: 'project:idle', state: null });
    const isBob = (status: string) => (f: Record<string, unknown>) =>
      f['push'] === 'update' && f['user'] === 'bob' && (f['device'] as { status: string }).status === status;
    clock.advance(5 * 60_000 - 1000);
    // The watcher's own round trip after the move: any idle update would have come before it.
    await watcher.call('ping');
    expect(watcher.frames.some(isBob('idle'))).toBe(false);
    clock.advance(1000);
    await watcher.waitFor(isBob('idle'), 5000);
    const mark = watcher.frames.length;
    await bob.call('history', { channel: 'project:idle' });
    await watcher.waitFor(isBob('online'), 5000, mark);
    bob.close();
    watcher.close();
  });
});

describe("pings on the server's clock", () => {
  const clock = new ManualClock();
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ now: clock.now, timeouts: { ping: '30s', pong: '10s' } });
    clock.onMove(() => s.server.node.wheel.advance());
  });
  afterAll(async () => {
    await s.close();
  });

  it('removes a connection that stops answering pings from presence within ping + pong', async () => {
    const watcher = await connectLive(s, 'w3');
    await watcher.call('subscribe', { channel: 'project:dead' });
    const silent = await RawClient.connect(s.url, await s.token({ sub: 'carol' })); // never answers pings
    await silent.call('subscribe', { channel: 'project:dead' });
    await silent.call('presence_set', { channel: 'project:dead', state: { x: 1 } });
    await watcher.waitFor((f) => f.push === 'join' && f['user'] === 'carol');
    clock.advance(30_000);
    await silent.waitFor((f) => f.push === 'ping');
    await watcher.waitFor((f) => f.push === 'ping');
    // The watcher's pong went out before this call, so the server has it when the call is answered.
    await watcher.call('ping');
    clock.advance(10_000);
    expect(await silent.waitClose(3000)).toBe(3005);
    await watcher.waitFor((f) => f.push === 'leave' && f['user'] === 'carol', 3000);
    expect((await watcher.call('presence_stats', { channel: 'project:dead' })).result).toEqual({ users: 0, connections: 0 });
    watcher.close();
  });
});
