import { DisconnectCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { lifecycleFeature } from './index.js';

/** Lifecycle hooks of a feature manifest, over a real server and real WebSockets. */
describe('lifecycle hooks', () => {
  const log: string[] = [];
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({ features: [lifecycleFeature(log)] });
  });
  afterAll(async () => {
    await s?.close();
  });

  /** The lines logged for one user since `from`, once `count` of them arrived. */
  async function lines(user: string, from: number, count: number): Promise<string[]> {
    const mine = () => log.slice(from).filter((l) => l.split(' ')[1] === user);
    await eventually(() => mine().length >= count, 3000, `${count} hook calls for ${user}`);
    // Give a duplicate the chance to show up before the exact comparison.
    await new Promise((r) => setImmediate(r));
    return mine();
  }

  it('afterSubscribe and onUnsubscribe fire once per subscription, with the recovery outcome and why it ended', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'ann' }));
    const first = await c.call('subscribe', { channel: 'project:a' });
    await c.call('publish', { channel: 'project:a', data: 1 });
    const { epoch } = first.result as { epoch: string };
    await c.call('unsubscribe', { channel: 'project:a' });
    await c.call('subscribe', { channel: 'project:a', recover: { offset: 0, epoch } });
    await s.server.node.unsubscribeUser('acme', 'ann', 'project:a');
    expect(await lines('ann', from, 4)).toEqual([
      'afterSubscribe ann project:a recovered=null',
      'onUnsubscribe ann project:a client',
      'afterSubscribe ann project:a recovered=true',
      'onUnsubscribe ann project:a server',
    ]);
    c.close();
    await lines('ann', from, 5);
  });

  it('a refused or failed subscribe announces nothing', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'dan', caps: { 'chat:*': ['subscribe'] } }));
    expect((await c.call('subscribe', { channel: 'project:x' })).error?.code).toBe(103);
    expect((await c.call('subscribe', { channel: 'nope:x' })).error).toBeDefined();
    c.close();
    expect(await lines('dan', from, 1)).toEqual(['onDisconnect dan 1005']);
  });

  it('onPresenceJoin, onPresenceUpdate and onPresenceLeave pair up: an update is no join, leave and unsubscribe each end one', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'bea' }));
    await c.call('subscribe', { channel: 'project:p' });
    await c.call('presence_set', { channel: 'project:p', state: { page: '/a' } });
    await c.call('presence_set', { channel: 'project:p', state: { page: '/b' } });
    await c.call('presence_leave', { channel: 'project:p' });
    await c.call('presence_leave', { channel: 'project:p' });
    await c.call('presence_set', { channel: 'project:p' });
    await c.call('unsubscribe', { channel: 'project:p' });
    expect(await lines('bea', from, 7)).toEqual([
      'afterSubscribe bea project:p recovered=null',
      'onPresenceJoin bea project:p {"page":"/a"}',
      'onPresenceUpdate bea project:p {"page":"/b"}',
      'onPresenceLeave bea project:p',
      'onPresenceJoin bea project:p null',
      'onPresenceLeave bea project:p',
      'onUnsubscribe bea project:p client',
    ]);
    c.close();
  });

  it('a connection dropped without a close handshake is reported once as lost, then leaves, unsubscribes and disconnects', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'cid' }));
    await c.call('subscribe', { channel: 'project:q' });
    await c.call('presence_set', { channel: 'project:q', state: 1 });
    c.terminate();
    expect(await lines('cid', from, 6)).toEqual([
      'afterSubscribe cid project:q recovered=null',
      'onPresenceJoin cid project:q 1',
      'onConnectionLost cid',
      'onPresenceLeave cid project:q',
      'onUnsubscribe cid project:q disconnect',
      'onDisconnect cid 1006 lost',
    ]);
  });

  it('a clean close is not a lost connection', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'eve' }));
    await c.call('subscribe', { channel: 'project:r' });
    c.close();
    expect(await lines('eve', from, 3)).toEqual([
      'afterSubscribe eve project:r recovered=null',
      'onUnsubscribe eve project:r disconnect',
      'onDisconnect eve 1005',
    ]);
  });

  it('onDisconnect carries the close code the server closed with', async () => {
    const from = log.length;
    const c = await RawClient.connect(s.url, await s.token({ sub: 'fay' }));
    await s.server.node.disconnectUser('acme', 'fay', DisconnectCode.ForceDisconnect);
    expect(await lines('fay', from, 1)).toEqual([`onDisconnect fay ${DisconnectCode.ForceDisconnect.code}`]);
    c.close();
  });
});
