import type { CSSProperties, PointerEvent, ReactNode } from 'react';
import { createElement as h, useCallback } from '../externals.js';
import { useCursors } from '../hooks.js';
import { useClient } from '../provider.js';
import type { Cursor } from '../room.js';
import { className } from './class-name.js';
import { displayName } from './display-name.js';

/** Props of `LiveCursors`. */
export interface LiveCursorsProps {
  /** The channel the cursors travel on (needs the `signal` capability). */
  channel: string;
  /** Send this user's cursor at most once per this many ms (default 50). */
  throttleMs?: number;
  /** What the cursors move over. */
  children?: ReactNode;
  className?: string;
  style?: CSSProperties;
}

/** A position in CSS pixels from the container's top-left corner. */
export interface CursorPosition {
  x: number;
  y: number;
}

/** A position another client sent, if it is one (anything else is not drawn). */
function positionOf(value: unknown): CursorPosition | null {
  if (typeof value !== 'object' || value === null) return null;
  const { x, y } = value as { x?: unknown; y?: unknown };
  return typeof x === 'number' && typeof y === 'number' && Number.isFinite(x) && Number.isFinite(y) ? { x, y } : null;
}

/** A stable hue per user, so each cursor keeps its colour. */
function hueOf(user: string): number {
  let hash = 0;
  for (let i = 0; i < user.length; i++) hash = (hash * 31 + user.charCodeAt(i)) | 0;
  return Math.abs(hash) % 360;
}

function cursor(user: string, c: Cursor, at: CursorPosition): ReactNode {
  // Dark enough for the white label to keep a 4.5:1 contrast at every hue (yellow is the worst, about 5.2:1).
  const colour = `var(--sb-cursor-color, hsl(${hueOf(user)} 70% 26%))`;
  return h(
    'div',
    {
      key: user,
      className: 'sb-cursor',
      'data-testid': `cursor-${user}`,
      'data-user': user,
      style: { position: 'absolute', left: 0, top: 0, transform: `translate(${at.x}px, ${at.y}px)`, color: colour, willChange: 'transform' },
    },
    h('svg', { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': true }, h('path', { d: 'M1 1l5 14 2-6 6-2z', fill: 'currentColor' })),
    h(
      'span',
      {
        className: 'sb-cursor-label',
        style: { background: colour },
      },
      displayName(user, c.info),
    ),
  );
}

/**
 * A container (position: relative) that sends this user's pointer position over a channel and
 * draws the other users' cursors over its children, absolutely positioned: one per user, at
 * most one render per animation frame however fast they move. Positions are CSS pixels from
 * the container's top-left corner, so containers of the same size line up.
 *
 * @example
 * <LiveCursors channel="board:1" throttleMs={30} style={{ height: 400 }}>
 *   <Board />
 * </LiveCursors>
 */
export function LiveCursors(props: LiveCursorsProps): ReactNode {
  const { data, update } = useCursors<unknown>(props.channel, { throttleMs: props.throttleMs ?? 50 });
  const me = useClient()?.session?.user;
  const onPointerMove = useCallback(
    (e: PointerEvent<HTMLDivElement>) => {
      const box = e.currentTarget.getBoundingClientRect();
      update({ x: Math.round(e.clientX - box.left), y: Math.round(e.clientY - box.top) });
    },
    [update],
  );
  const onPointerLeave = useCallback(() => update(null), [update]);
  // One cursor per user: the last of their connections wins.
  const byUser = new Map<string, [Cursor, CursorPosition]>();
  for (const c of data ?? []) {
    const at = positionOf(c.position);
    if (c.user !== me && at !== null) byUser.set(c.user, [c, at]);
  }
  return h(
    'div',
    { className: className('sb-live-cursors', props.className), style: { position: 'relative', ...props.style }, onPointerMove, onPointerLeave },
    props.children,
    h(
      'div',
      { className: 'sb-cursor-layer', 'aria-hidden': true, style: { position: 'absolute', inset: 0, overflow: 'hidden', pointerEvents: 'none' } },
      [...byUser].map(([user, [c, at]]) => cursor(user, c, at)),
    ),
  );
}
