import { allows } from '../auth/capabilities.js';
import type { Identity } from '../auth/token-verifier.js';
import type { ResolvedChannel } from './channels.js';

/**
 * Deny by default. `subscribe` (receive publications, read presence and history) depends on
 * the namespace's `subscribe` rule. Whether the namespace enables an action at all
 * (history, client publish, presence, signals) is checked by the command, which answers
 * `NotAvailable` rather than `PermissionDenied`.
 */
export type Action = 'subscribe' | 'history' | 'publish' | 'presence' | 'signal' | 'lock' | 'unlock';

function isOwner(identity: Identity, ch: ResolvedChannel): boolean {
  return ch.name === identity.user;
}

function canRead(identity: Identity, ch: ResolvedChannel): boolean {
  switch (ch.options.subscribe) {
    case 'owner':
      return isOwner(identity, ch);
    case 'authenticated':
      return true;
    case 'capability':
      return allows(identity.capabilities, ch.channel, 'subscribe');
  }
}

export function can(identity: Identity, ch: ResolvedChannel, action: Action): boolean {
  const ns = ch.options;
  const owner = ns.subscribe === 'owner' && isOwner(identity, ch);
  const member = owner || ns.subscribe === 'authenticated';
  switch (action) {
    case 'subscribe':
      return canRead(identity, ch);
    case 'history':
      return canRead(identity, ch) || allows(identity.capabilities, ch.channel, 'history');
    case 'publish':
      return owner || allows(identity.capabilities, ch.channel, 'publish');
    case 'presence':
      return canRead(identity, ch) && (member || allows(identity.capabilities, ch.channel, 'presence'));
    case 'signal':
      return canRead(identity, ch) && (member || allows(identity.capabilities, ch.channel, 'signal'));
    case 'lock':
      return canRead(identity, ch) && (member || allows(identity.capabilities, ch.channel, 'lock'));
    case 'unlock':
      // Taking another holder's lock back is never implied by membership: the token must grant it.
      return canRead(identity, ch) && allows(identity.capabilities, ch.channel, 'unlock');
  }
}
