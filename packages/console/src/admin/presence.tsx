import { type FormEvent, type ReactNode, useState } from 'react';
import { api, describeError, type Session } from '../api';
import { usePolled } from '../polled';

interface PresenceDevice {
  client: string;
  status: 'online' | 'away' | 'idle';
  state?: unknown;
}
interface PresenceMember {
  user: string;
  status: 'online' | 'away' | 'idle';
  devices: PresenceDevice[];
}
/** What `GET /api/v1/presence` answers. */
interface TenantPresence {
  present: Array<{ channel: string; members: PresenceMember[] }>;
  channels: number;
  more: boolean;
  nodes: number;
  complete: boolean;
}

/** A device's presence state as text (JSON), or nothing when it has none. */
const stateText = (state: unknown): string => (state === undefined || state === null ? '' : JSON.stringify(state));

/**
 * Who is present where in one tenant (an admin key names it; a tenant key has its own): the
 * channels with presence members, each member's status, devices and state, read every 2 s.
 */
export function Presence({ session }: { session: Session }): ReactNode {
  const own = session.scope.admin ? null : session.scope.tenant;
  const [typed, setTyped] = useState('');
  const [prefix, setPrefix] = useState('');
  const [tenant, setTenant] = useState<string | null>(own);
  const query = prefix.trim() ? `?prefix=${encodeURIComponent(prefix.trim())}` : '';
  const list = usePolled(() => (tenant ? api<TenantPresence>(session.key, `/presence${query}`, { tenant }) : Promise.resolve(null)), 2000, [
    session.key,
    tenant,
    query,
  ]);

  const chooseTenant = (e: FormEvent) => {
    e.preventDefault();
    setTenant(typed.trim() || null);
  };
  const data = list.data;
  const members = data ? data.present.reduce((n, c) => n + c.members.length, 0) : 0;

  return (
    <>
      {session.scope.admin ? (
        <form onSubmit={chooseTenant} className="search">
          <label>
            Tenant <input data-testid="presence-tenant" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </label>
          <button type="submit">Show presence</button>
        </form>
      ) : null}
      {tenant === null ? (
        <p>Name a tenant to see who is present in its channels.</p>
      ) : (
        <>
          <form className="search" aria-label="Filter channels" onSubmit={(e) => e.preventDefault()}>
            <label>
              Channels starting with <input data-testid="presence-prefix" value={prefix} onChange={(e) => setPrefix(e.target.value)} />
            </label>
          </form>
          {list.error ? (
            <p role="alert" className="error">
              {describeError(list.error)}
            </p>
          ) : null}
          <p data-testid="presence-summary">
            {data
              ? `${members} member${members === 1 ? '' : 's'} in ${data.present.length} channel${data.present.length === 1 ? '' : 's'} of tenant ${tenant}` +
                `${data.more ? ' (more channels than were read: narrow by name)' : ''}${data.complete ? '' : ' (a node did not answer)'}`
              : 'Loading…'}
          </p>
          {(data?.present ?? []).map((c) => (
            <section key={c.channel} className="detail" data-testid="presence-channel" data-channel={c.channel} aria-label={`Presence in ${c.channel}`}>
              <h2>{c.channel}</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Status</th>
                    <th scope="col">Devices</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {c.members.map((m) => (
                    <tr key={m.user} data-testid="presence-member" data-user={m.user}>
                      <td>{m.user}</td>
                      <td data-testid="presence-status">
                        <span className={`status status-${m.status}`}>{m.status}</span>
                      </td>
                      <td>
                        {m.devices.length}
                        {m.devices.length > 1 ? ` (${m.devices.map((d) => d.status).join(', ')})` : ''}
                      </td>
                      <td>
                        {m.devices.some((d) => stateText(d.state) !== '') ? (
                          <code data-testid="presence-state">
                            {m.devices
                              .map((d) => stateText(d.state))
                              .filter((t) => t !== '')
                              .join(' ')}
                          </code>
                        ) : (
                          <span className="muted">none</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ))}
        </>
      )}
    </>
  );
}
