import type { SwitchboardError } from '@switchboard/client';
import type { Notification } from '@switchboard/client/notifications';
import type { ReactNode } from 'react';
import { createElement as h, useState } from '../externals.js';
import { useNotifications } from '../hooks.js';
import { className } from './class-name.js';
import { notificationText } from './notification-text.js';
import { filter, pagedList } from './paged-list.js';
import { timeLabel } from './time-label.js';

/** Props of `NotificationInbox`. */
export interface NotificationInboxProps {
  /** The types offered by the type filter (none: no filter shown). */
  types?: readonly string[];
  /** Only unread notifications (default false). */
  unreadOnly?: boolean;
  /** Notifications per page (default 20). */
  pageSize?: number;
  /** Makes each title a button; called with the notification (navigate to its `link` here). */
  onOpen?: (notification: Notification) => void;
  /** The region's name (default "Notifications"). */
  label?: string;
  /** For the bell's `controls`. */
  id?: string;
  className?: string;
}

function item(n: Notification, markRead: (id: string) => void, onOpen: NotificationInboxProps['onOpen']): ReactNode {
  return h(
    'li',
    { key: n.id, className: 'sb-notification', 'data-read': n.read, 'data-type': n.type, 'data-priority': n.priority },
    ...notificationText('sb-notification', n, onOpen),
    timeLabel(n.updatedAt, 'sb-notification-time'),
    !n.read &&
      h('button', { type: 'button', className: 'sb-notification-read', 'aria-label': `Mark read: ${n.title}`, onClick: () => markRead(n.id) }, 'Mark read'),
  );
}

/**
 * The connected user's notifications, newest first and live: a type filter, "Mark read" on
 * each unread one, "Mark all read", and infinite scroll (the next page loads when the end of
 * the list scrolls into view, or with its "Load more" button). Titles and bodies are text.
 *
 * @example
 * <NotificationInbox id="inbox" types={['mention', 'approval', 'alert']} onOpen={(n) => n.link && navigate(n.link)} />
 */
export function NotificationInbox(props: NotificationInboxProps): ReactNode {
  const [type, setType] = useState('');
  const types = props.types ?? [];
  const list = useNotifications({
    ...(props.unreadOnly ? { unreadOnly: true } : {}),
    ...(type !== '' ? { types: [type] } : {}),
    ...(props.pageSize !== undefined ? { pageSize: props.pageSize } : {}),
  });
  const items = list.data ?? [];
  // A refused mark-read shows as the list's error would.
  const [failure, setFailure] = useState<SwitchboardError | null>(null);
  const act = (work: Promise<unknown>) => {
    setFailure(null);
    work.catch(setFailure);
  };
  const problem = list.error ?? failure;
  return pagedList(
    'sb-inbox',
    { className: className('sb-inbox', props.className), id: props.id, 'aria-label': props.label ?? 'Notifications' },
    problem && `Notifications failed (${problem.code})`,
    'ul',
    list,
    items.map((n) => item(n, (id) => act(list.markRead(id)), props.onOpen)),
    'No notifications',
    types.length > 0 && filter('sb-inbox-filter', 'Type', type, setType, types),
    h('button', { type: 'button', className: 'sb-inbox-read-all', onClick: () => act(list.markAllRead()) }, 'Mark all read'),
  );
}
