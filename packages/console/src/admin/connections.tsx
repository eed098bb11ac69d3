import { type ReactNode, useState } from 'react';
import { api, describeError, type Session, segment } from '../api';
import { usePolled } from '../polled';
import { ConfirmDialog } from './confirm-dialog';
import { type ListedConnection, listConnections } from './connection-list';

const time = (ms: number) => new Date(ms).toLocaleTimeString();

/** Live connections, searchable by user, tenant (admin key) and IP; each can be disconnected with a reason, after a confirmation. */
export function Connections({ session }: { session: Session }): ReactNode {
  const [user, setUser] = useState('');
  const [tenant, setTenant] = useState('');
  const [ip, setIp] = useState('');
  const [target, setTarget] = useState<ListedConnection | null>(null);
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const search = { user: user.trim(), ip: ip.trim(), ...(session.scope.admin ? { tenant: tenant.trim() } : {}), limit: 200 };
  const list = usePolled(() => listConnections(session, search), 2000, [session.key, search.user, search.ip, search.tenant]);

  const disconnect = async (c: ListedConnection) => {
    setTarget(null);
    try {
      await api(session.key, `/users/${segment(c.user)}/disconnect`, {
        method: 'POST',
        tenant: c.tenant,
        body: { client: c.client, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      });
      setNotice(`Disconnected ${c.user} (${c.client}).`);
    } catch (err) {
      setNotice(`Not disconnected: ${describeError(err)}`);
    }
    setReason('');
    list.refresh();
  };

  return (
    <>
      <form className="search" aria-label="Search connections" onSubmit={(e) => e.preventDefault()}>
        <label>
          User <input data-testid="search-user" value={user} onChange={(e) => setUser(e.target.value)} />
        </label>
        {session.scope.admin ? (
          <label>
            Tenant <input data-testid="search-tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} />
          </label>
        ) : null}
        <label>
          IP <input data-testid="search-ip" value={ip} onChange={(e) => setIp(e.target.value)} />
        </label>
      </form>
      {notice ? (
        <p role="status" data-testid="connections-notice">
          {notice}
        </p>
      ) : null}
      {list.error ? (
        <p role="alert" className="error">
          {describeError(list.error)}
        </p>
      ) : null}
      <p data-testid="connections-total">{list.data ? `${list.data.total} connection${list.data.total === 1 ? '' : 's'}` : 'Loading…'}</p>
      <table>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Tenant</th>
            <th scope="col">IP</th>
            <th scope="col">Connected</th>
            <th scope="col">Status</th>
            <th scope="col">Subscriptions</th>
            <th scope="col">Node</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.connections ?? []).map((c) => (
            <tr key={c.client} data-testid="connection-row" data-user={c.user}>
              <td>{c.user}</td>
              <td>{c.tenant}</td>
              <td>{c.ip}</td>
              <td>{time(c.connectedAt)}</td>
              <td>{c.status}</td>
              <td>{c.subscriptions}</td>
              <td>{c.node}</td>
              <td>
                <button
                  type="button"
                  className="danger"
                  disabled={session.scope.readOnly}
                  title={session.scope.readOnly ? 'a read-only key cannot disconnect' : undefined}
                  onClick={() => setTarget(c)}
                  data-testid="disconnect"
                >
                  Disconnect<span className="visually-hidden"> {c.user}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {target ? (
        <ConfirmDialog
          title="Disconnect this connection?"
          confirmLabel="Disconnect"
          onConfirm={() => void disconnect(target)}
          onCancel={() => {
            setTarget(null);
            setReason('');
          }}
        >
          <p>
            User <strong>{target.user}</strong> of tenant <strong>{target.tenant}</strong>, connection <code>{target.client}</code> from {target.ip}. The SDK
            does not reconnect after this close.
          </p>
          <label>
            Reason (shown to the client, at most 123 bytes)
            <input data-testid="disconnect-reason" maxLength={123} value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
