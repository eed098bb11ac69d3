import { type ReactNode, useState } from 'react';
import { api, describeError, type Session } from '../api';
import { usePolled } from '../polled';

interface ErrorExample {
  time: number;
  node: string;
  tenant: string | null;
  source: 'socket' | 'http';
  where: string;
  message: string;
  client: string | null;
}
/** What `GET /api/v1/errors` answers. */
interface ErrorList {
  errors: Array<{ code: number; name: string; count: number; recent: number; lastAt: number; examples: ErrorExample[] }>;
  minutes: number;
  since: number;
  nodes: number;
  complete: boolean;
}

const MINUTES = [1, 5, 15] as const;
const time = (ms: number) => new Date(ms).toLocaleTimeString();

/**
 * The typed errors the cluster answered, by code: how many since the nodes started and over
 * the last minutes, and the latest redacted examples; read every 2 s. An admin key sees every
 * tenant (or names one); a tenant key its own.
 */
export function Errors({ session }: { session: Session }): ReactNode {
  const [tenant, setTenant] = useState('');
  const [minutes, setMinutes] = useState<number>(5);
  const named = session.scope.admin ? tenant.trim() : '';
  const query = new URLSearchParams({ minutes: String(minutes), ...(named ? { tenant: named } : {}) });
  const list = usePolled(() => api<ErrorList>(session.key, `/errors?${query}`), 2000, [session.key, named, minutes]);
  const data = list.data;
  const total = data ? data.errors.reduce((n, e) => n + e.count, 0) : 0;

  return (
    <>
      <form className="search" aria-label="Choose errors" onSubmit={(e) => e.preventDefault()}>
        {session.scope.admin ? (
          <label>
            Tenant (empty: every tenant) <input data-testid="errors-tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} />
          </label>
        ) : null}
        <label>
          Recent means the last{' '}
          <select data-testid="errors-minutes" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
            {MINUTES.map((m) => (
              <option key={m} value={m}>
                {m} minute{m === 1 ? '' : 's'}
              </option>
            ))}
          </select>
        </label>
      </form>
      {list.error ? (
        <p role="alert" className="error">
          {describeError(list.error)}
        </p>
      ) : null}
      <p data-testid="errors-total">
        {data
          ? `${total} error${total === 1 ? '' : 's'} since ${new Date(data.since).toLocaleString()} over ${data.nodes} node${data.nodes === 1 ? '' : 's'}` +
            `${data.complete ? '' : ' (a node did not answer)'}`
          : 'Loading…'}
      </p>
      <table>
        <caption>Typed errors by code, the most recent first</caption>
        <thead>
          <tr>
            <th scope="col">Code</th>
            <th scope="col">Name</th>
            <th scope="col">Since start</th>
            <th scope="col">Last {minutes} min</th>
            <th scope="col">Latest</th>
          </tr>
        </thead>
        <tbody>
          {(data?.errors ?? []).map((e) => (
            <tr key={e.code} data-testid="error-row" data-code={e.code}>
              <td>{e.code}</td>
              <td>{e.name}</td>
              <td data-testid="error-count">{e.count}</td>
              <td data-testid="error-recent">{e.recent}</td>
              <td>{time(e.lastAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(data?.errors ?? []).map((e) => (
        <section key={e.code} className="detail" aria-label={`Examples of ${e.name} (${e.code})`}>
          <h2>
            {e.code} {e.name}: latest examples
          </h2>
          <ol data-testid="error-examples" data-code={e.code}>
            {e.examples.map((x, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: examples have no id; the list is replaced whole at each read
              <li key={i} data-testid="error-example">
                <span className="muted">
                  {time(x.time)} · {x.source} · {x.where} · {x.tenant === null ? 'no tenant' : `tenant ${x.tenant}`}
                  {x.client ? ` · connection ${x.client}` : ''} · node {x.node}
                </span>{' '}
                <code>{x.message}</code>
              </li>
            ))}
          </ol>
        </section>
      ))}
    </>
  );
}
