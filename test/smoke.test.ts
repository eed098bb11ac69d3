import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('server smoke', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('connects, subscribes, publishes and receives the publication', async () => {
    const a = await RawClient.connect(s.url, await s.token({ sub: 'alice' }));
    const b = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
    expect(a.info['user']).toBe('alice');
    const sub = await b.call('subscribe', { channel: 'project:1' });
    expect(sub.error).toBeUndefined();
    const pub = await a.call('publish', { channel: 'project:1', data: { text: 'hi' } });
    expect(pub.result).toMatchObject({ offset: 1 });
    const got = await b.waitFor((f) => f.push === 'pub');
    expect(got).toMatchObject({ channel: 'project:1', offset: 1, data: { text: 'hi' }, info: { user: 'alice' } });
    a.close();
    b.close();
  });
});
