import { ErrorCode } from '@switchboard/protocol';
import { defineCommand, defineRoute, type FeatureModule, ReplyError } from '@switchboard/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer } from './helpers/server.js';

/** A feature adds a command, an HTTP route and hooks without touching transport or engine code. */
function echoFeature(log: string[]): FeatureModule {
  return {
    name: 'echo',
    commands: [
      defineCommand({
        method: 'echo.say',
        params: z.strictObject({ text: z.string().max(100) }),
        async handler({ client }, params) {
          return { text: params.text, user: client.identity?.user };
        },
      }),
    ],
    routes: () => [
      defineRoute({
        method: 'GET',
        url: '/echo/ping',
        operationId: 'echoPing',
        tag: 'echo',
        summary: 'Answers pong',
        response: z.object({ pong: z.literal(true) }),
        async handler() {
          return { pong: true as const };
        },
      }),
    ],
    hooks: {
      onConnect: ({ identity }) => {
        log.push(`connect ${identity.user}`);
        if (identity.user === 'banned') throw new ReplyError(ErrorCode.PermissionDenied, 'banned');
      },
      beforeSubscribe: ({ channel }) => {
        if (channel.name === 'locked') throw new ReplyError({ code: 401, message: 'locked by the app', temporary: false });
      },
      beforePublish: ({ data }) => {
        if (data.includes('forbidden-word')) throw new ReplyError({ code: 402, message: 'moderated', temporary: false });
      },
      afterPublish: ({ channel, offset }) => {
        log.push(`published ${channel.channel}#${offset}`);
      },
      onDisconnect: ({ client }) => {
        log.push(`disconnect ${client.identity?.user}`);
      },
    },
  };
}

describe('features', () => {
  it('register commands, routes and hooks that run in order and can refuse actions with typed errors', async () => {
    const log: string[] = [];
    const s = await startTestServer({ features: [echoFeature(log)] });
    const c = await RawClient.connect(s.url, await s.token({ sub: 'ann' }));
    expect((await c.call('echo.say', { text: 'hi' })).result).toEqual({ text: 'hi', user: 'ann' });
    expect((await c.call('echo.say', { text: 5 })).error?.code).toBe(107);
    expect((await c.call('subscribe', { channel: 'project:locked' })).error).toEqual({ code: 401, message: 'locked by the app', temporary: false });
    expect((await c.call('publish', { channel: 'project:1', data: 'a forbidden-word' })).error?.code).toBe(402);
    expect((await c.call('publish', { channel: 'project:1', data: 'fine' })).result).toMatchObject({ offset: 1 });
    const res = await fetch(`${s.httpUrl}/api/v1/echo/ping`, { headers: { authorization: `Bearer ${s.tenantKeys['acme']}` } });
    expect(await res.json()).toEqual({ pong: true });
    const banned = await RawClient.open(s.url);
    expect((await banned.call('connect', { token: await s.token({ sub: 'banned' }) })).error?.code).toBe(103);
    expect(await banned.waitClose()).toBe(3504);
    c.close();
    await c.waitClose();
    await s.close();
    expect(log).toEqual(['connect ann', 'published project:1#1', 'connect banned', 'disconnect ann']);
  });

  it('refuses a feature whose dependency is missing at start', async () => {
    await expect(startTestServer({ features: [{ name: 'needs', dependsOn: ['absent'] }] })).rejects.toThrow('SB_ERR_FEATURE_DEPENDENCY');
  });
});
