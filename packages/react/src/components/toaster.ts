import type { Notification, NotificationPriority } from '@switchboard/client/notifications';
import type { ReactNode } from 'react';
import { createElement as h, useEffect, useRef, useState } from '../externals.js';
import { useNotifications } from '../hooks.js';
import { className } from './class-name.js';
import { notificationText } from './notification-text.js';

/** Props of `Toaster`. */
export interface ToasterProps {
  /** Toast notifications of this priority and above (default `normal`). */
  minPriority?: NotificationPriority;
  /** Milliseconds a toast stays (default 5000; paused while hovered or focused; 0: until dismissed). */
  duration?: number;
  /** Toasts shown at once, newest first (default 3). */
  max?: number;
  /** Makes each title a button; called with the notification. */
  onOpen?: (notification: Notification) => void;
  className?: string;
}

const RANK: Record<NotificationPriority, number> = { low: 0, normal: 1, high: 2, critical: 3 };

interface ToastProps {
  notification: Notification;
  duration: number;
  dismiss: (id: string) => void;
  onOpen: ToasterProps['onOpen'];
}

function Toast({ notification: n, duration, dismiss, onOpen }: ToastProps): ReactNode {
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    if (paused || duration <= 0) return;
    const timer = setTimeout(() => dismiss(n.id), duration);
    return () => clearTimeout(timer);
  }, [paused, duration, dismiss, n.id]);
  const urgent = RANK[n.priority] >= RANK.high;
  return h(
    'div',
    {
      className: 'sb-toast',
      'data-testid': 'toast',
      'data-priority': n.priority,
      role: urgent ? 'alert' : 'status',
      onPointerEnter: () => setPaused(true),
      onPointerLeave: () => setPaused(false),
      onFocus: () => setPaused(true),
      onBlur: () => setPaused(false),
    },
    ...notificationText('sb-toast', n, onOpen),
    h('button', { type: 'button', className: 'sb-toast-dismiss', 'aria-label': `Dismiss: ${n.title}`, onClick: () => dismiss(n.id) }, '×'),
  );
}

/**
 * Toasts for the connected user's new notifications at or above `minPriority`: `role="alert"`
 * for high and critical ones, `role="status"` for the others; each goes after `duration`
 * (not while hovered or focused), when dismissed, or when the notification is read (in
 * another tab too). Notifications already there when it mounts do not toast; ones created
 * while offline toast once on reconnect, and a merged one toasts again.
 *
 * @example
 * <Toaster minPriority="high" duration={8000} />
 */
export function Toaster(props: ToasterProps): ReactNode {
  const { data } = useNotifications();
  const minRank = RANK[props.minPriority ?? 'normal'];
  const [toasts, setToasts] = useState<readonly Notification[]>([]);
  /** Each notification's merge count when last seen; null until the first load. */
  const seen = useRef<Map<string, number> | null>(null);
  useEffect(() => {
    if (data === undefined) return;
    const known = seen.current;
    seen.current = known ?? new Map();
    const fresh: Notification[] = [];
    for (const n of data) {
      const before = known?.get(n.id);
      (seen.current as Map<string, number>).set(n.id, n.count);
      if (known !== null && (before === undefined || n.count > before) && !n.read && RANK[n.priority] >= minRank) fresh.push(n);
    }
    const read = new Set(data.filter((n) => n.read).map((n) => n.id));
    const freshIds = new Set(fresh.map((n) => n.id));
    setToasts((shown) => {
      const kept = shown.filter((t) => !read.has(t.id) && !freshIds.has(t.id));
      return fresh.length === 0 && kept.length === shown.length ? shown : [...fresh, ...kept];
    });
  }, [data, minRank]);
  const [dismiss] = useState(() => (id: string) => setToasts((shown) => shown.filter((t) => t.id !== id)));
  return h(
    'div',
    {
      className: className('sb-toaster', props.className),
    },
    toasts
      .slice(0, props.max ?? 3)
      .map((n) => h(Toast, { key: `${n.id}:${n.count}`, notification: n, duration: props.duration ?? 5000, dismiss, onOpen: props.onOpen })),
  );
}
