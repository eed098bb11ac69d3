import type { Notification } from '@switchboard/client/notifications';
import type { ReactNode } from 'react';
import { createElement as h } from '../externals.js';

/**
 * A notification's title (a button calling `onOpen` when given, else `<strong>`) and its body
 * when it has one, classed `${part}-title` and `${part}-body`; both as text.
 */
export function notificationText(part: string, n: Notification, onOpen: ((notification: Notification) => void) | undefined): ReactNode[] {
  return [
    onOpen
      ? h('button', { type: 'button', className: `${part}-title`, onClick: () => onOpen(n) }, n.title)
      : h('strong', { className: `${part}-title` }, n.title),
    n.body !== null && n.body !== '' && h('p', { className: `${part}-body` }, n.body),
  ];
}
