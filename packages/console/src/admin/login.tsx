import { type FormEvent, type ReactNode, useState } from 'react';

/** The key typed in (a password field: never shown, never autocompleted into storage). */
export function Login({ onLogin, busy, error }: { onLogin(key: string): void; busy: boolean; error: string | null }): ReactNode {
  const [key, setKey] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const typed = key.trim();
    setKey('');
    if (typed) onLogin(typed);
  };
  return (
    <main className="page narrow">
      <h1>Switchboard admin</h1>
      <form onSubmit={submit} className="login">
        <label htmlFor="login-key">API key (admin, or a tenant's)</label>
        <input
          id="login-key"
          data-testid="login-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
      {error ? (
        <p role="alert" className="error" data-testid="login-error">
          Login refused: {error}
        </p>
      ) : null}
      <p className="hint">
        The key stays in this tab only (session storage) and goes to the server as an Authorization header. <code>switchboard serve</code> prints a link that
        logs in with the development admin key.
      </p>
    </main>
  );
}
