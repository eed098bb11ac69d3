import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { api, describeError, type KeyScope, type Session } from '../api';
import { BASE, Link } from '../router';
import { forgetKey, initialKey, keepKey } from '../session';
import { Channels } from './channels';
import { Connections } from './connections';
import { Errors } from './errors';
import { Login } from './login';
import { Overview } from './overview';
import { Presence } from './presence';

const PAGES = [
  { path: `${BASE}/admin`, title: 'Overview' },
  { path: `${BASE}/admin/connections`, title: 'Connections' },
  { path: `${BASE}/admin/channels`, title: 'Channels' },
  { path: `${BASE}/admin/presence`, title: 'Presence' },
  { path: `${BASE}/admin/errors`, title: 'Errors' },
];

/**
 * The admin view: logged in with an API key (admin, or a tenant's, which sees its tenant
 * only), checked with `GET /api/v1/key` before anything is shown; a wrong key shows an error
 * and no data.
 */
export function Admin({ path }: { path: string }): ReactNode {
  const [session, setSession] = useState<Session | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const login = useCallback(async (key: string) => {
    setBusy(true);
    try {
      const scope = await api<KeyScope>(key, '/key');
      keepKey(key);
      setSession({ key, scope });
      setError(null);
    } catch (err) {
      forgetKey();
      setSession(null);
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }, []);

  useEffect(() => {
    const key = initialKey();
    if (key) void login(key);
  }, [login]);

  const logout = () => {
    forgetKey();
    setSession(null);
    setError(null);
  };

  if (!session) return <Login onLogin={login} busy={busy} error={error} />;
  const page = PAGES.find((p) => p.path === path) ?? (PAGES[0] as (typeof PAGES)[number]);
  return (
    <div className="shell">
      <header className="bar">
        <p className="brand">Switchboard admin</p>
        <nav aria-label="Admin pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <Link to={p.path} current={p === page}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <p className="scope" data-testid="key-scope">
          {session.scope.admin ? 'admin key' : `tenant ${session.scope.tenant ?? ''}`}
          {session.scope.readOnly ? ', read-only' : ''}
        </p>
        <button type="button" onClick={logout} data-testid="logout">
          Log out
        </button>
      </header>
      <main className="page">
        <h1>{page.title}</h1>
        {page.title === 'Connections' ? (
          <Connections session={session} />
        ) : page.title === 'Channels' ? (
          <Channels session={session} />
        ) : page.title === 'Presence' ? (
          <Presence session={session} />
        ) : page.title === 'Errors' ? (
          <Errors session={session} />
        ) : (
          <Overview session={session} />
        )}
      </main>
    </div>
  );
}
