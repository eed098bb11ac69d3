import type { MouseEvent, ReactNode } from 'react';
import { createElement as h } from '../externals.js';
import { useUnreadCount } from '../hooks.js';
import { className } from './class-name.js';

/** Props of `NotificationBell`. */
export interface NotificationBellProps {
  /** What a click does (open the inbox, say). */
  onClick?: (event: MouseEvent<HTMLButtonElement>) => void;
  /** Whether what it opens is open (`aria-expanded`). */
  expanded?: boolean;
  /** The id of what it opens (`aria-controls`). */
  controls?: string;
  /** The button's name before the count (default "Notifications"). */
  label?: string;
  className?: string;
}

/**
 * A button with a bell and the connected user's unread count, live (pushed after every
 * change, read in another tab too). Its accessible name says the count ("Notifications,
 * 3 unread"); the badge is hidden at zero.
 *
 * @example
 * <NotificationBell onClick={() => setOpen(!open)} expanded={open} controls="inbox" />
 */
export function NotificationBell(props: NotificationBellProps): ReactNode {
  const { data, isLoading } = useUnreadCount();
  const count = data?.count ?? 0;
  return h(
    'button',
    {
      type: 'button',
      className: className('sb-bell', props.className),
      'data-testid': 'notification-bell',
      'aria-label': `${props.label ?? 'Notifications'}, ${count} unread`,
      'aria-expanded': props.expanded,
      'aria-controls': props.controls,
      'aria-busy': isLoading,
      onClick: props.onClick,
    },
    h(
      'svg',
      { width: '1.25em', height: '1.25em', viewBox: '0 0 24 24', 'aria-hidden': true },
      h('path', {
        d: 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11a6 6 0 0 0-5-5.9V4a1 1 0 1 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1z',
        fill: 'currentColor',
      }),
    ),
    h(
      'span',
      {
        className: 'sb-bell-count',
        'data-testid': 'notification-count',
        'data-count': count,
        'aria-hidden': true,
        hidden: count === 0,
      },
      String(count),
    ),
  );
}
