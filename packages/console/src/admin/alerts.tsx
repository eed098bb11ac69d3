import { type FormEvent, type ReactNode, useState } from 'react';
import { api, describeError, type Session } from '../api';
import { usePolled } from '../polled';

/** A rule as `GET /api/v1/metrics/alerts` lists it. */
interface Rule {
  name: string;
  source: 'config' | 'tenant';
  series: string;
  labels: Record<string, string>;
  stat: string;
  resolution: string;
  warning?: number;
  critical?: number;
  direction: 'above' | 'below';
  for: number;
  hysteresis: number;
}

/** A rule's state as `GET /api/v1/metrics/health` answers it. */
interface RuleHealth {
  name: string;
  state: 'ok' | 'warning' | 'critical' | 'resolved';
  value: number | null;
  since: number | null;
  evaluatedAt: number | null;
}

interface Health {
  state: 'ok' | 'warning' | 'critical';
  summary: { ok: number; warning: number; critical: number };
  rules: RuleHealth[];
}

const when = (t: number | null) => (t === null ? '–' : new Date(t).toISOString().replace('T', ' ').slice(0, 19));

/** `p95(api.latency_ms{route=/login}) > 200 (warning), > 500 (critical) for 30s`. */
function condition(rule: Rule): string {
  const labels = Object.entries(rule.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const op = rule.direction === 'above' ? '>' : '<';
  const levels = [
    rule.warning !== undefined ? `${op} ${rule.warning} (warning)` : null,
    rule.critical !== undefined ? `${op} ${rule.critical} (critical)` : null,
  ].filter(Boolean);
  return `${rule.stat}(${rule.series}{${labels}}) ${levels.join(', ')}${rule.for > 0 ? ` for ${rule.for / 1000}s` : ''} at ${rule.resolution}`;
}

/**
 * The alerts page: a tenant's alert rules (`GET /api/v1/metrics/alerts`: the configuration's
 * and its own) with their states (`GET /api/v1/metrics/health`), read every 2 s. An admin key
 * names the tenant; a tenant key has its own.
 */
export function Alerts({ session }: { session: Session }): ReactNode {
  const own = session.scope.admin ? null : session.scope.tenant;
  const [typed, setTyped] = useState('');
  const [tenant, setTenant] = useState<string | null>(own);
  const read = usePolled(
    async () => {
      if (!tenant) return null;
      const [rules, health] = await Promise.all([
        api<{ rules: Rule[] }>(session.key, '/metrics/alerts', { tenant }),
        api<Health>(session.key, '/metrics/health', { tenant }),
      ]);
      return { rules: rules.rules, health };
    },
    2000,
    [session.key, tenant],
  );
  const chooseTenant = (e: FormEvent) => {
    e.preventDefault();
    setTenant(typed.trim() || null);
  };
  const data = read.data;
  const states = new Map((data?.health.rules ?? []).map((r) => [r.name, r]));

  return (
    <>
      {session.scope.admin ? (
        <form onSubmit={chooseTenant} className="search">
          <label>
            Tenant <input data-testid="alerts-tenant" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </label>
          <button type="submit">Show alerts</button>
        </form>
      ) : null}
      {tenant === null ? <p>Name a tenant to see its alert rules.</p> : null}
      {read.error ? (
        <p role="alert" className="error">
          {describeError(read.error)}
        </p>
      ) : null}
      {data ? (
        <>
          <p data-testid="alerts-summary">
            Overall <strong>{data.health.state}</strong>: {data.health.summary.ok} ok, {data.health.summary.warning} warning, {data.health.summary.critical}{' '}
            critical
          </p>
          <table>
            <caption>Alert rules of tenant {tenant}</caption>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Condition</th>
                <th scope="col">State</th>
                <th scope="col">Value</th>
                <th scope="col">Since (UTC)</th>
                <th scope="col">Evaluated (UTC)</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {data.rules.map((rule) => {
                const h = states.get(rule.name);
                return (
                  <tr key={rule.name} data-testid="alert-row" data-rule={rule.name}>
                    <th scope="row">{rule.name}</th>
                    <td>{condition(rule)}</td>
                    <td data-testid="alert-state" className={`state-${h?.state ?? 'ok'}`}>
                      {h?.state ?? 'ok'}
                    </td>
                    <td>{h?.value ?? '–'}</td>
                    <td>{when(h?.since ?? null)}</td>
                    <td>{when(h?.evaluatedAt ?? null)}</td>
                    <td>{rule.source}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {data.rules.length === 0 ? <p>No alert rules.</p> : null}
        </>
      ) : null}
    </>
  );
}
