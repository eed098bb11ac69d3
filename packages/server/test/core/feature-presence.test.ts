import { describe, expect, it } from 'vitest';
import type { NamespaceConfig } from '../../src/config/schema.js';
import type { ResolvedChannel } from '../../src/core/channels.js';
import { FeaturePresences } from '../../src/core/feature-presence.js';
import type { HookPayloads } from '../../src/core/modules.js';
import type { Engine } from '../../src/engine/engine.js';
import { MemoryPresenceStore } from '../../src/engine/memory-presence.js';

type PresenceHook = 'onPresenceJoin' | 'onPresenceUpdate' | 'onPresenceLeave';

/** A feature's presence entries tell the modules through the presence hooks, as sessions' do. */
describe('FeaturePresences and the presence hooks', () => {
  const ch = {
    channel: 'doc:a',
    key: 'acme|doc:a',
    tenant: 'acme',
    namespace: 'doc',
    name: 'a',
    options: { presence: true, joinLeave: true } as unknown as NamespaceConfig,
  } satisfies ResolvedChannel;

  function setup(opts: { failEvents?: boolean; maxMembers?: number } = {}) {
    const presence = new MemoryPresenceStore();
    const heard: string[] = [];
    const payloads: Array<HookPayloads[PresenceHook]> = [];
    const broker = {
      publishEvent: async () => {
        if (opts.failEvents) throw new Error('engine away');
      },
    } as unknown as Engine['broker'];
    const presences = new FeaturePresences({
      engine: { presence, broker },
      now: () => 1000,
      quotas: { presenceMembers: () => opts.maxMembers ?? 100 },
      limits: { maxPresenceStateBytes: 1000 },
      engineCall: (_where, op) => op(),
      notice: (name, payload) => {
        payloads.push(payload);
        heard.push(`${name} ${payload.client.identity.user} ${'state' in payload ? payload.state : ''}`.trim());
      },
    });
    return { presence, presences, heard, payloads };
  }

  it('join, update and leave each fire once, in order, with a client that has no session', async () => {
    const { presences, heard, payloads } = setup();
    const m = await presences.join(ch, { client: 'd1', user: 'ada', state: '{"a":1}' });
    await m.update('{"a":2}');
    // What the hooks announced is listed for a module that starts listening late.
    expect(presences.local('acme').map((e) => [e.client.id, e.channel.key, e.state])).toEqual([['d1', 'acme|doc:a', '{"a":2}']]);
    expect(presences.local('other')).toEqual([]);
    await m.leave();
    expect(presences.local('acme')).toEqual([]);
    await m.leave();
    await m.update('{"a":3}');
    expect(heard).toEqual(['onPresenceJoin ada {"a":1}', 'onPresenceUpdate ada {"a":2}', 'onPresenceLeave ada']);
    expect(payloads[0]?.client).toEqual({ id: 'd1', identity: { tenant: 'acme', user: 'ada' }, connectedAt: 1000, session: null });
    expect(payloads.every((p) => p.channel === ch)).toBe(true);
  });

  it('a join refused (channel full) or failed (events away) fires nothing, and leaves no entry behind', async () => {
    const full = setup({ maxMembers: 0 });
    await expect(full.presences.join(ch, { client: 'd1', user: 'ada', state: null })).rejects.toThrow();
    expect(full.heard).toEqual([]);
    const away = setup({ failEvents: true });
    await expect(away.presences.join(ch, { client: 'd1', user: 'ada', state: null })).rejects.toThrow('engine away');
    expect(away.heard).toEqual([]);
    expect(await away.presence.get(ch.key)).toEqual([]);
  });

  it('a leave whose removal fails still ends what the join began', async () => {
    const { presence, presences, heard } = setup();
    const m = await presences.join(ch, { client: 'd1', user: 'ada', state: null });
    presence.remove = async () => {
      throw new Error('engine away');
    };
    await expect(m.leave()).rejects.toThrow('engine away');
    expect(heard).toEqual(['onPresenceJoin ada null', 'onPresenceLeave ada']);
  });
});
