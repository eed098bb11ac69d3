import { describe, expect, it } from 'vitest';
import type { CommandDefinition } from '../../src/core/command.js';
import { HOOK_NAMES, type HookPayloads, type Hooks, ModuleRegistry } from '../../src/core/modules.js';
import { SwitchboardError } from '../../src/errors/sb-error.js';
import type { FeatureModule } from '../../src/features/manifest.js';

const command = (method: string): CommandDefinition => ({ method, params: undefined as never, handler: async () => ({}) });
const payload = {} as HookPayloads['beforePublish'];

function setup(core: string[] = ['connect', 'subscribe', 'publish']) {
  return { registry: new ModuleRegistry(), commands: new Map(core.map((m) => [m, command(m)])) };
}

function refusal(fn: () => void): SwitchboardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected registration to throw');
}

describe('ModuleRegistry.register', () => {
  it('registers features in order and adds their commands', () => {
    const { registry, commands } = setup();
    const a: FeatureModule = { name: 'a', commands: [command('a.list')] };
    const b: FeatureModule = { name: 'b', dependsOn: ['a'], commands: [command('b.get'), command('b.put')] };
    registry.register(a, commands);
    registry.register(b, commands);
    expect(registry.features.map((f) => f.name)).toEqual(['a', 'b']);
    expect([...commands.keys()]).toEqual(['connect', 'subscribe', 'publish', 'a.list', 'b.get', 'b.put']);
  });

  it('refuses a feature registered twice with SB_ERR_FEATURE_DUPLICATE', () => {
    const { registry, commands } = setup();
    registry.register({ name: 'inbox' }, commands);
    const err = refusal(() => registry.register({ name: 'inbox' }, commands));
    expect(err.code).toBe('SB_ERR_FEATURE_DUPLICATE');
    expect(err.message).toContain('"inbox"');
    expect(registry.features).toHaveLength(1);
  });

  it('refuses a missing dependency with SB_ERR_FEATURE_DEPENDENCY', () => {
    const { registry, commands } = setup();
    const err = refusal(() => registry.register({ name: 'activity', dependsOn: ['notifications'] }, commands));
    expect(err.code).toBe('SB_ERR_FEATURE_DEPENDENCY');
    expect(err.message).toContain('"activity" needs "notifications"');
  });

  it('refuses a dependency that is registered only after the feature', () => {
    const { registry, commands } = setup();
    expect(refusal(() => registry.register({ name: 'b', dependsOn: ['a'] }, commands)).code).toBe('SB_ERR_FEATURE_DEPENDENCY');
    registry.register({ name: 'a' }, commands);
    registry.register({ name: 'b', dependsOn: ['a'] }, commands);
    expect(registry.features.map((f) => f.name)).toEqual(['a', 'b']);
  });

  it('refuses an unknown hook name with SB_ERR_FEATURE_HOOK', () => {
    const { registry, commands } = setup();
    const hooks = { onConnect: () => {}, onPublish: () => {} } as unknown as Hooks;
    const err = refusal(() => registry.register({ name: 'typo', hooks }, commands));
    expect(err.code).toBe('SB_ERR_FEATURE_HOOK');
    expect(err.message).toContain('"onPublish"');
  });

  it('refuses a command that already exists with SB_ERR_FEATURE_COMMAND, core or feature', () => {
    const { registry, commands } = setup();
    expect(refusal(() => registry.register({ name: 'x', commands: [command('subscribe')] }, commands)).code).toBe('SB_ERR_FEATURE_COMMAND');
    registry.register({ name: 'y', commands: [command('y.go')] }, commands);
    const err = refusal(() => registry.register({ name: 'z', commands: [command('y.go')] }, commands));
    expect(err.code).toBe('SB_ERR_FEATURE_COMMAND');
    expect(err.message).toContain('"y.go"');
  });

  it('a refused feature leaves no command, hook or feature behind', () => {
    const { registry, commands } = setup();
    const calls: string[] = [];
    const bad: FeatureModule = {
      name: 'bad',
      commands: [command('bad.first'), command('publish')],
      hooks: { beforePublish: () => void calls.push('bad') },
    };
    expect(refusal(() => registry.register(bad, commands)).code).toBe('SB_ERR_FEATURE_COMMAND');
    expect(commands.has('bad.first')).toBe(false);
    expect(registry.has('beforePublish')).toBe(false);
    expect(registry.features).toEqual([]);
    // The name is still free.
    registry.register({ name: 'bad' }, commands);
    expect(registry.features.map((f) => f.name)).toEqual(['bad']);
  });

  it('accepts every declared hook name', () => {
    const { registry, commands } = setup();
    const hooks = Object.fromEntries(HOOK_NAMES.map((h) => [h, () => {}])) as Hooks;
    registry.register({ name: 'all', hooks }, commands);
    for (const h of HOOK_NAMES) expect(registry.has(h)).toBe(true);
  });
});

describe('a feature declaring the same command twice is refused', () => {
  it('refuses a feature whose own commands repeat a method', () => {
    const { registry, commands } = setup();
    const err = refusal(() => registry.register({ name: 'twice', commands: [command('t.go'), command('t.go')] }, commands));
    expect(err.code).toBe('SB_ERR_FEATURE_COMMAND');
  });
});

describe('ModuleRegistry.run', () => {
  it('does nothing for a hook nobody registered', async () => {
    const { registry } = setup();
    expect(registry.has('afterPublish')).toBe(false);
    await expect(registry.run('afterPublish', {} as HookPayloads['afterPublish'])).resolves.toBeUndefined();
  });

  it('runs handlers in registration order, awaiting each before the next', async () => {
    const { registry, commands } = setup();
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    registry.register(
      {
        name: 'a',
        hooks: {
          beforePublish: async () => {
            calls.push('a start');
            await gate;
            calls.push('a end');
          },
        },
      },
      commands,
    );
    registry.register({ name: 'b', hooks: { beforePublish: () => void calls.push('b') } }, commands);
    registry.register({ name: 'c', hooks: { afterPublish: () => void calls.push('other hook') } }, commands);
    registry.register({ name: 'd', hooks: { beforePublish: () => void calls.push('d') } }, commands);
    const running = registry.run('beforePublish', payload);
    await Promise.resolve();
    expect(calls).toEqual(['a start']);
    release();
    await running;
    expect(calls).toEqual(['a start', 'a end', 'b', 'd']);
  });

  it('passes the payload to each handler', async () => {
    const { registry, commands } = setup();
    const seen: unknown[] = [];
    registry.register({ name: 'a', hooks: { beforePublish: (p) => void seen.push(p) } }, commands);
    registry.register({ name: 'b', hooks: { beforePublish: (p) => void seen.push(p) } }, commands);
    const p = { data: '{"x":1}' } as HookPayloads['beforePublish'];
    await registry.run('beforePublish', p);
    expect(seen).toEqual([p, p]);
    expect(seen[0]).toBe(p);
  });

  it('a throwing handler stops the chain and the error reaches the caller', async () => {
    const { registry, commands } = setup();
    const calls: string[] = [];
    const refusalError = new Error('refused by b');
    registry.register({ name: 'a', hooks: { beforeSubscribe: () => void calls.push('a') } }, commands);
    registry.register(
      {
        name: 'b',
        hooks: {
          beforeSubscribe: () => {
            calls.push('b');
            throw refusalError;
          },
        },
      },
      commands,
    );
    registry.register({ name: 'c', hooks: { beforeSubscribe: () => void calls.push('c') } }, commands);
    await expect(registry.run('beforeSubscribe', {} as HookPayloads['beforeSubscribe'])).rejects.toBe(refusalError);
    expect(calls).toEqual(['a', 'b']);
  });

  it('a rejecting async handler stops the chain too', async () => {
    const { registry, commands } = setup();
    const calls: string[] = [];
    registry.register(
      {
        name: 'a',
        hooks: {
          onConnect: async () => {
            calls.push('a');
            throw new Error('no');
          },
        },
      },
      commands,
    );
    registry.register({ name: 'b', hooks: { onConnect: () => void calls.push('b') } }, commands);
    await expect(registry.run('onConnect', {} as HookPayloads['onConnect'])).rejects.toThrow('no');
    expect(calls).toEqual(['a']);
  });

  it('answers merge in registration order, and each reaches the handlers after it in the payload', async () => {
    const { registry, commands } = setup();
    const seen: string[] = [];
    registry.register({ name: 'a', hooks: { beforePublish: (p) => ({ data: `[${p.data}]` }) } }, commands);
    registry.register({ name: 'b', hooks: { beforePublish: (p) => void seen.push(p.data) } }, commands);
    registry.register({ name: 'c', hooks: { beforePublish: (p) => ({ data: `{"wrapped":${p.data}}` }) } }, commands);
    const answer = await registry.run('beforePublish', { data: '1' } as HookPayloads['beforePublish']);
    expect(seen).toEqual(['[1]']);
    expect(answer).toEqual({ data: '{"wrapped":[1]}' });
    expect(await registry.run('onConnect', {} as HookPayloads['onConnect'])).toBeUndefined();
  });
});
