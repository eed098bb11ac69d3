import { describe, expect, it } from 'vitest';
import { parseCapabilities } from '../../src/auth/capabilities.js';
import type { Identity } from '../../src/auth/token-verifier.js';
import { namespaceSchema } from '../../src/config/schema.js';
import type { ResolvedChannel } from '../../src/core/channels.js';
import { type Action, can } from '../../src/core/permissions.js';

const ACTIONS: Action[] = ['subscribe', 'history', 'publish', 'presence', 'signal'];

function identity(user: string, caps: Record<string, string[]> = {}): Identity {
  const capabilities = parseCapabilities(caps);
  if (!capabilities) throw new Error('bad caps');
  return { user, tenant: 'acme', expires: Date.now() + 60_000, capabilities };
}

function channel(name: string, subscribe: 'capability' | 'owner' | 'authenticated'): ResolvedChannel {
  const colon = name.indexOf(':');
  const namespace = colon === -1 ? name : name.slice(0, colon);
  return {
    channel: name,
    key: `acme|${name}`,
    tenant: 'acme',
    namespace,
    name: colon === -1 ? '' : name.slice(colon + 1),
    options: namespaceSchema.parse({ subscribe }),
  };
}

/** The actions an identity may take on a channel, in ACTIONS order. */
const allowed = (id: Identity, ch: ResolvedChannel) => ACTIONS.filter((a) => can(id, ch, a));

describe('can: owner namespaces (personal channels)', () => {
  const alices = channel('user:alice', 'owner');

  it('lets the owner do everything on their own channel', () => {
    expect(allowed(identity('alice'), alices)).toEqual(ACTIONS);
  });

  it('denies every action to another user without capabilities', () => {
    expect(allowed(identity('bob'), alices)).toEqual([]);
  });

  it('lets capabilities grant publish and history but never subscription, presence or signals to another user', () => {
    const bob = identity('bob', { 'user:*': ['subscribe', 'history', 'publish', 'presence', 'signal'] });
    expect(allowed(bob, alices)).toEqual(['history', 'publish']);
  });

  it('owns only the exact name, not a longer one', () => {
    expect(allowed(identity('alice'), channel('user:alice:inbox', 'owner'))).toEqual([]);
    expect(allowed(identity('alice'), channel('user:alic', 'owner'))).toEqual([]);
    expect(allowed(identity('alice'), channel('user', 'owner'))).toEqual([]);
  });
});

describe('can: authenticated namespaces', () => {
  const system = channel('system:announcements', 'authenticated');

  it('lets any user subscribe, read history, enter presence and signal, but not publish', () => {
    expect(allowed(identity('anyone'), system)).toEqual(['subscribe', 'history', 'presence', 'signal']);
  });

  it('needs the publish capability to publish', () => {
    expect(allowed(identity('admin', { 'system:*': ['publish'] }), system)).toEqual(ACTIONS);
    expect(allowed(identity('admin', { 'chat:*': ['publish'] }), system)).not.toContain('publish');
  });
});

describe('can: capability namespaces', () => {
  const project = channel('project:42', 'capability');

  it('denies everything without a capability, even to a user named like the channel', () => {
    expect(allowed(identity('anyone'), project)).toEqual([]);
    expect(allowed(identity('42'), project)).toEqual([]);
  });

  it.each<[string, string[], Action[]]>([
    ['subscribe', ['subscribe'], ['subscribe', 'history']],
    ['history', ['history'], ['history']],
    ['publish', ['publish'], ['publish']],
    ['presence without subscribe', ['presence'], []],
    ['signal without subscribe', ['signal'], []],
    ['subscribe + presence', ['subscribe', 'presence'], ['subscribe', 'history', 'presence']],
    ['subscribe + signal', ['subscribe', 'signal'], ['subscribe', 'history', 'signal']],
    ['everything', ['subscribe', 'history', 'publish', 'presence', 'signal'], ACTIONS],
  ])('a %s capability allows exactly its actions', (_label, actions, expected) => {
    expect(allowed(identity('alice', { 'project:*': actions }), project)).toEqual(expected);
  });

  it('ignores capabilities for other channels', () => {
    const alice = identity('alice', { 'project:4': ['subscribe', 'publish'], 'project:42:*': ['subscribe'], 'chat:*': ['subscribe'] });
    expect(allowed(alice, project)).toEqual([]);
  });
});
