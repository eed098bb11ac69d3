import type { ReactNode } from 'react';
import { createElement as h } from '../externals.js';

/** A `<time>` element for a Unix-ms instant, in the reader's locale (nothing for a bad instant). */
export function timeLabel(ms: number, className: string): ReactNode {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return null;
  return h('time', { className, dateTime: date.toISOString() }, date.toLocaleString());
}
