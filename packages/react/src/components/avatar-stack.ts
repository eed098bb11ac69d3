import type { PresenceMember } from '@switchboard/client';
import type { ReactNode } from 'react';
import { createElement as h } from '../externals.js';
import { useOthers, usePresence } from '../hooks.js';
import { className } from './class-name.js';
import { displayName } from './display-name.js';
import { VISUALLY_HIDDEN } from './visually-hidden.js';

/** Props of `AvatarStack`. */
export interface AvatarStackProps {
  /** The channel whose presence members are shown (needs the `presence` capability). */
  channel: string;
  /** Avatars shown before `+N` (default 5). */
  max?: number;
  /** Show this connection's own user too (default true; false: the others only). */
  includeSelf?: boolean;
  /** The name of a member, as text (default: their token info's `name`, else the user id). */
  name?: (member: PresenceMember) => string;
  className?: string;
}

/** One or two letters of a name, for the avatar's face. */
function initials(name: string): string {
  const words = name.split(/[\s._@-]+/).filter((w) => w !== '');
  const letters = words.length > 1 ? [words[0], words[1]] : [words[0] ?? name];
  return letters
    .map((w) => Array.from(w ?? '')[0] ?? '')
    .join('')
    .toUpperCase();
}

function avatar(member: PresenceMember, name: string): ReactNode {
  return h(
    'li',
    {
      key: member.user,
      className: 'sb-avatar',
      'data-testid': 'presence-avatar',
      'data-user': member.user,
      'data-status': member.status,
      title: `${name} (${member.status})`,
    },
    h('span', { 'aria-hidden': true }, initials(name)),
    h('span', { className: 'sb-avatar-status', 'aria-hidden': true }),
    h('span', { style: VISUALLY_HIDDEN }, `${name} (${member.status})`),
  );
}

/**
 * The members present on a channel as a list of avatars (initials, a status dot for online /
 * away / idle, the name and status as each avatar's accessible name), `+N` past `max`.
 *
 * @example
 * <AvatarStack channel="project:42" max={4} includeSelf={false} />
 */
export function AvatarStack(props: AvatarStackProps): ReactNode {
  const all = usePresence(props.channel);
  const others = useOthers(props.channel);
  const { data, isLoading, error } = props.includeSelf === false ? others : all;
  const members = data ?? [];
  const max = Math.max(0, props.max ?? 5);
  const nameOf = (m: PresenceMember) => (props.name ? props.name(m) : displayName(m.user, m.info));
  const shown = members.slice(0, max);
  const hidden = members.slice(max).map(nameOf);
  return h(
    'ul',
    {
      className: className('sb-avatar-stack', props.className),
      'aria-label': `${members.length} ${members.length === 1 ? 'person' : 'people'} here`,
      'aria-busy': isLoading,
      'data-error': error?.code,
    },
    shown.map((m) => avatar(m, nameOf(m))),
    hidden.length > 0 &&
      h(
        'li',
        {
          key: '+',
          className: 'sb-avatar sb-avatar-more',
          title: hidden.join(', '),
        },
        h('span', { 'aria-hidden': true }, `+${hidden.length}`),
        h('span', { style: VISUALLY_HIDDEN }, `${hidden.length} more: ${hidden.join(', ')}`),
      ),
  );
}
