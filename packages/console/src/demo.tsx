import type { ReactNode } from 'react';
import { BASE, Link } from './router';

/** Whether the server serves the demo workspace (development mode, or `console.demo: true`): it says so in the page. */
export function demoEnabled(): boolean {
  return document.querySelector('meta[name="switchboard-demo"]')?.getAttribute('content') === 'on';
}

/** The demo workspace's place: the workspace itself is coming. */
export function Demo(): ReactNode {
  return (
    <main className="page narrow">
      <h1>Demo workspace</h1>
      <p data-testid="demo-coming">The demo workspace is coming: presence, cursors, typing, notifications and activity between two browser windows.</p>
      <p>
        <Link to={`${BASE}/admin`}>Go to the admin view</Link>
      </p>
    </main>
  );
}
