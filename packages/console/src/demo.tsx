import { lazy, type ReactNode, Suspense } from 'react';

/** Whether the server serves the demo workspace (development mode, or `console.demo: true`): it says so in the page. */
export function demoEnabled(): boolean {
  return document.querySelector('meta[name="switchboard-demo"]')?.getAttribute('content') === 'on';
}

// The workspace is its own chunk: the admin view's first load does not carry it.
const Workspace = lazy(() => import('./demo/workspace'));

/** The demo workspace at `/console/demo`, loaded when first shown. */
export function Demo(): ReactNode {
  return (
    <Suspense
      fallback={
        <main className="page narrow" aria-busy="true">
          <h1>Demo workspace</h1>
          <p>Loading…</p>
        </main>
      }
    >
      <Workspace />
    </Suspense>
  );
}
