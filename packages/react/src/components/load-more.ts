import type { ReactNode } from 'react';
import { createElement as h, useCallback, useEffect, useRef, useState } from '../externals.js';

/** Props of the `LoadMore` button at the end of a paged list. */
export interface LoadMoreProps {
  hasMore: boolean;
  loadMore: () => Promise<void>;
  /** Items loaded so far: after each page the button is observed again. */
  loaded: number;
}

/**
 * The end of an infinitely scrolling list: a "Load more" button (for keyboards and
 * browsers without IntersectionObserver) that also loads the next page by itself when it
 * scrolls into view, page after page while it stays in view.
 */
export function LoadMore(props: LoadMoreProps): ReactNode {
  const { hasMore, loadMore, loaded } = props;
  const button = useRef<HTMLButtonElement>(null);
  const inFlight = useRef(false);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const more = useCallback(() => {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    loadMore()
      .then(
        () => setFailed(false),
        () => setFailed(true),
      )
      .finally(() => {
        inFlight.current = false;
        setBusy(false);
      });
  }, [loadMore]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `loaded` re-arms the observer after each page
  useEffect(() => {
    const Observer = (globalThis as { IntersectionObserver?: typeof IntersectionObserver }).IntersectionObserver;
    const target = button.current;
    if (!hasMore || failed || target === null || typeof Observer !== 'function') return;
    const observer = new Observer((entries) => {
      if (entries.some((e) => e.isIntersecting)) more();
    });
    observer.observe(target);
    return () => observer.disconnect();
  }, [hasMore, failed, more, loaded]);
  if (!hasMore) return null;
  return h(
    'button',
    { type: 'button', ref: button, className: 'sb-load-more', onClick: more, 'aria-disabled': busy, 'aria-busy': busy },
    busy ? 'Loading…' : failed ? 'Could not load: try again' : 'Load more',
  );
}
