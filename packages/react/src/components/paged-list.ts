import type { ChangeEvent, ReactNode } from 'react';
import { createElement as h } from '../externals.js';
import { LoadMore } from './load-more.js';

/**
 * A labelled `<select>` of a list's toolbar: with `texts`, one option per value showing its
 * text; without, "All" (the empty value) and then the values.
 */
export function filter(
  className: string,
  label: string,
  value: string,
  set: (value: string) => void,
  values: readonly string[],
  texts?: readonly string[],
): ReactNode {
  const [shown, named] = texts
    ? [values, texts]
    : [
        ['', ...values],
        ['All', ...values],
      ];
  return h(
    'label',
    { className },
    `${label} `,
    h(
      'select',
      { value, onChange: (e: ChangeEvent<HTMLSelectElement>) => set(e.target.value) },
      shown.map((v, i) => h('option', { key: v, value: v }, named[i])),
    ),
  );
}

/** What a paged list's frame needs of its hook. */
export interface PagedState {
  isLoading: boolean;
  hasMore: boolean;
  loadMore: () => Promise<void>;
}

/**
 * The frame of a live paged list (`NotificationInbox`, `ActivityTimeline`): a labelled
 * section with a toolbar, an alert when `alert` is given, the list (`aria-busy` while
 * loading), `empty` when it has no item, and the `LoadMore` button. Parts are classed
 * `${part}-toolbar`, `${part}-error`, `${part}-list` and `${part}-empty`.
 */
export function pagedList(
  part: string,
  section: { className: string; id?: string | undefined; 'aria-label': string },
  alert: string | null,
  tag: 'ul' | 'ol',
  state: PagedState,
  items: ReactNode[],
  empty: string,
  ...toolbar: ReactNode[]
): ReactNode {
  return h(
    'section',
    section,
    h('div', { className: `${part}-toolbar` }, ...toolbar),
    alert !== null && h('p', { className: `${part}-error`, role: 'alert' }, alert),
    h(tag, { className: `${part}-list`, 'aria-busy': state.isLoading }, items),
    !state.isLoading && items.length === 0 && h('p', { className: `${part}-empty` }, empty),
    h(LoadMore, { hasMore: state.hasMore, loadMore: state.loadMore, loaded: items.length }),
  );
}
