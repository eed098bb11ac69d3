import { type FormEvent, type ReactNode, useState } from 'react';
import { api, describeError, type Session, segment } from '../api';
import { usePolled } from '../polled';

interface ChannelList {
  /** `publishRate`: publications per second over the last 10 s, over every node. */
  channels: Array<{ channel: string; subscribers: number; publishRate: number }>;
  nodes: number;
  complete: boolean;
}

/** What the channels page reads of `GET /api/v1/presence`: the channels with members. */
interface PresentList {
  present: Array<{ channel: string; members: unknown[] }>;
}

/** Channels with subscribers in one tenant (an admin key names it; a tenant key has its own); open one to see it. */
export function Channels({ session }: { session: Session }): ReactNode {
  const own = session.scope.admin ? null : session.scope.tenant;
  const [typed, setTyped] = useState('');
  const [tenant, setTenant] = useState<string | null>(own);
  const [open, setOpen] = useState<string | null>(null);
  const [channelName, setChannelName] = useState('');
  const list = usePolled(() => (tenant ? api<ChannelList>(session.key, '/channels', { tenant }) : Promise.resolve(null)), 2000, [session.key, tenant]);
  // Members present per channel, from the presence page's route (the first 200 channels by name).
  const present = usePolled(() => (tenant ? api<PresentList>(session.key, '/presence', { tenant }) : Promise.resolve(null)), 2000, [session.key, tenant]);
  const membersOf = new Map((present.data?.present ?? []).map((p) => [p.channel, p.members.length]));

  const chooseTenant = (e: FormEvent) => {
    e.preventDefault();
    setTenant(typed.trim() || null);
    setOpen(null);
  };
  const openTyped = (e: FormEvent) => {
    e.preventDefault();
    if (channelName.trim()) setOpen(channelName.trim());
  };

  return (
    <>
      {session.scope.admin ? (
        <form onSubmit={chooseTenant} className="search">
          <label>
            Tenant <input data-testid="channels-tenant" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </label>
          <button type="submit">Show channels</button>
        </form>
      ) : null}
      {tenant === null ? (
        <p>Name a tenant to see its channels.</p>
      ) : (
        <>
          {list.error ? (
            <p role="alert" className="error">
              {describeError(list.error)}
            </p>
          ) : null}
          <table>
            <caption>Channels of tenant {tenant} with subscribers</caption>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Subscribers</th>
                <th scope="col">Present</th>
                <th scope="col">Publications per second (last 10 s)</th>
              </tr>
            </thead>
            <tbody>
              {(list.data?.channels ?? []).map((c) => (
                <tr key={c.channel} data-testid="channel-row" data-channel={c.channel}>
                  <td>
                    <button type="button" className="link" onClick={() => setOpen(c.channel)}>
                      {c.channel}
                    </button>
                  </td>
                  <td>{c.subscribers}</td>
                  <td data-testid="channel-present">{membersOf.get(c.channel) ?? 0}</td>
                  <td data-testid="channel-rate">{c.publishRate}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <form onSubmit={openTyped} className="search">
            <label>
              Any channel <input data-testid="channel-name" value={channelName} onChange={(e) => setChannelName(e.target.value)} />
            </label>
            <button type="submit">Open</button>
          </form>
          {open ? <ChannelDetail key={`${tenant}|${open}`} session={session} tenant={tenant} channel={open} /> : null}
        </>
      )}
    </>
  );
}

interface PresenceList {
  members: Array<{ user: string; status: string; devices: Array<{ client: string; status: string; state?: unknown }> }>;
}
interface HistoryTail {
  publications: Array<{ offset: number; time: number; data: unknown }>;
  offset: number;
  epoch: string;
}

/** One channel: its presence and the tail of its history, read every 2 s, and a test publication. */
function ChannelDetail({ session, tenant, channel }: { session: Session; tenant: string; channel: string }): ReactNode {
  const path = `/channels/${segment(channel)}`;
  const presence = usePolled(() => api<PresenceList>(session.key, `${path}/presence`, { tenant }), 2000, []);
  const history = usePolled(() => api<HistoryTail>(session.key, `${path}/history?limit=20&reverse=true`, { tenant }), 2000, []);
  const [text, setText] = useState('{"text":"hello from the console"}');
  const [result, setResult] = useState<string | null>(null);

  const publish = async (e: FormEvent) => {
    e.preventDefault();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      setResult('Not published: the message is not JSON.');
      return;
    }
    try {
      const r = await api<{ offset: number }>(session.key, '/publish', { method: 'POST', tenant, body: { channel, data } });
      setResult(`Published at offset ${r.offset}.`);
      history.refresh();
    } catch (err) {
      setResult(`Not published: ${describeError(err)}`);
    }
  };

  return (
    <section aria-labelledby="channel-heading" className="detail">
      <h2 id="channel-heading">{channel}</h2>
      <h3>Presence</h3>
      {presence.error ? (
        <p className="muted">{describeError(presence.error)}</p>
      ) : (
        <ul data-testid="channel-presence">
          {(presence.data?.members ?? []).map((m) => (
            <li key={m.user}>
              {m.user} ({m.status}, {m.devices.length} device{m.devices.length === 1 ? '' : 's'})
              {m.devices.some((d) => d.state !== undefined && d.state !== null) ? (
                <>
                  {' '}
                  <code>{m.devices.map((d) => JSON.stringify(d.state ?? null)).join(' ')}</code>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      <h3>Latest publications</h3>
      {history.error ? (
        <p className="muted">{describeError(history.error)}</p>
      ) : (
        <ol data-testid="channel-history" reversed>
          {(history.data?.publications ?? []).map((p) => (
            <li key={p.offset}>
              <span className="muted">
                #{p.offset} {new Date(p.time).toLocaleTimeString()}
              </span>{' '}
              <code>{JSON.stringify(p.data)}</code>
            </li>
          ))}
        </ol>
      )}
      <h3>Publish a test message</h3>
      <form onSubmit={publish} className="publish">
        <label>
          Data (JSON)
          <textarea data-testid="publish-data" rows={3} value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        <button type="submit" disabled={session.scope.readOnly} data-testid="publish-submit">
          Publish
        </button>
      </form>
      {result ? <p role="status">{result}</p> : null}
    </section>
  );
}
