import type { ReactNode } from 'react';
import type { ConnectionStatus as Status } from '../connection.js';
import { createElement as h, useEffect, useState } from '../externals.js';
import { useConnectionStatus } from '../hooks.js';
import { className } from './class-name.js';

/** What `useConnectionStatus` returns as `data` (the type shares its name with the component). */
export type ConnectionStatus = Status;

/** Props of `ConnectionStatus`. */
export interface ConnectionStatusProps {
  className?: string;
}

/** What the badge shows: the client's state, with `reconnecting` while a retry waits. */
export type ConnectionPhase = 'connected' | 'connecting' | 'reconnecting' | 'disconnected';

/** Whole seconds until `at` (Unix ms), re-rendered as the number changes; null without `at`. */
function useSecondsUntil(at: number | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (at === null) return;
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      const current = Date.now();
      setNow(current);
      const left = at - current;
      if (left > 0) timer = setTimeout(tick, left % 1000 || 1000);
    };
    tick();
    return () => clearTimeout(timer);
  }, [at]);
  return at === null ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * A badge of the connection: `connected`, `connecting`, `reconnecting in N s` (counting down
 * while a retry waits) or `disconnected`, and how many publishes wait offline. A live region
 * (`role="status"`) that announces the state, not each second of the countdown.
 *
 * @example
 * <ConnectionStatus className="badge" />
 */
export function ConnectionStatus(props: ConnectionStatusProps): ReactNode {
  const { data, isLoading } = useConnectionStatus();
  const status = data ?? null;
  const retryAt = status !== null && status.reconnectIn !== null && status.reconnectingSince !== null ? status.reconnectingSince + status.reconnectIn : null;
  const seconds = useSecondsUntil(status?.state === 'connecting' ? retryAt : null);
  // At zero the attempt itself runs: `connecting`.
  const waiting = seconds !== null && seconds > 0;
  const phase: ConnectionPhase = waiting ? 'reconnecting' : (status?.state ?? 'disconnected');
  const queued = status?.queued ?? 0;
  return h(
    'span',
    { className: className('sb-connection', props.className), 'data-testid': 'connection-status', 'data-state': phase, role: 'status', 'aria-busy': isLoading },
    h('span', { className: 'sb-connection-dot', 'aria-hidden': true }),
    phase,
    // The countdown changes every second: shown, not announced.
    waiting && h('span', { 'aria-live': 'off' }, ` in ${seconds} s`),
    queued > 0 && h('span', { className: 'sb-connection-queued' }, `, ${queued} queued`),
  );
}
