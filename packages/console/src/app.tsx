import type { ReactNode } from 'react';
import { Admin } from './admin/admin';
import { Demo, demoEnabled } from './demo';
import { BASE, Link, usePath } from './router';

/** The console's pages by path: `/console/` (start), `/console/admin…`, `/console/demo`. */
export function App(): ReactNode {
  const path = usePath();
  if (path === `${BASE}/admin` || path.startsWith(`${BASE}/admin/`)) return <Admin path={path} />;
  if (path === `${BASE}/demo` && demoEnabled()) return <Demo />;
  return <Home />;
}

function Home(): ReactNode {
  return (
    <main className="page narrow">
      <h1>Switchboard console</h1>
      <ul className="choices">
        <li>
          <Link to={`${BASE}/admin`}>Admin view</Link>: live connections and channels, with an API key.
        </li>
        {demoEnabled() ? (
          <li>
            <Link to={`${BASE}/demo`}>Demo workspace</Link>: every feature between two browser windows.
          </li>
        ) : null}
      </ul>
    </main>
  );
}
