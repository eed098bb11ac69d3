import { activity } from '@switchboard/client/activity';
import {
  ActivityTimeline,
  AvatarStack,
  ConnectionStatus,
  LiveCursors,
  NotificationBell,
  NotificationInbox,
  SwitchboardProvider,
  Toaster,
  useClient,
  useMyPresence,
} from '@switchboard/react';
import { type FormEvent, lazy, type ReactNode, Suspense, useCallback, useEffect, useRef, useState } from 'react';
import { BASE, Link } from '../router';
import { CommentBox } from './comment-box';
import { Dashboard } from './dashboard';
import { JobProgress } from './job-progress';
import { LockPanel } from './lock-panel';
import { type DemoUser, fetchDemoToken, userIdOf } from './token';
import '@switchboard/react/styles.css';
import './demo.css';

// The charts and uPlot are a chunk of their own, fetched after the rest of the workspace.
const MetricCharts = lazy(() => import('./metric-charts'));
// The shared note and Yjs (about 20 KB gzip) too, fetched with the workspace but apart from it.
const Notes = lazy(() => import('./notes'));

/** The workspace's shared channel: presence, cursors, typing, comments and its activity feed. */
export const BOARD = 'demo:board';

/** The server's WebSocket endpoint, on the page's own origin (the CSP's connect-src allows only it). */
function socketUrl(): string {
  return `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws`;
}

/** The demo workspace: asks for a name, then connects as that user of tenant `demo`. */
export default function Workspace(): ReactNode {
  const [who, setWho] = useState<DemoUser | null>(null);
  const getToken = useCallback(() => fetchDemoToken(who as DemoUser), [who]);
  if (!who) return <JoinForm onJoin={setWho} />;
  return (
    <SwitchboardProvider key={who.user} url={socketUrl()} getToken={getToken} options={{ backoff: { minDelay: 500, maxDelay: 5000 } }}>
      <Room who={who} onLeave={() => setWho(null)} />
    </SwitchboardProvider>
  );
}

function JoinForm({ onJoin }: { onJoin: (who: DemoUser) => void }): ReactNode {
  const [name, setName] = useState('');
  // A name without a letter or digit of a-z, 0-9 (李雷, ✨) gets a guest id; it still shows as typed.
  const [guest] = useState(() => `guest-${Math.random().toString(36).slice(2, 8)}`);
  const user = userIdOf(name) || guest;
  const valid = name.trim() !== '' && name.length <= 40;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (valid) onJoin({ user, name: name.trim() });
  };
  return (
    <main className="page narrow">
      <h1>Demo workspace</h1>
      <p>
        A small project workspace of tenant <code>demo</code>: open this page in a second window, pick another name there, and watch presence, cursors, typing,
        comments, notifications, activity, a live progress bar, a shared dashboard, a shared note and a lock go between the two.
      </p>
      <form onSubmit={submit} className="demo-join">
        <label htmlFor="demo-name">Your name</label>
        <input id="demo-name" data-testid="demo-name" value={name} maxLength={40} autoComplete="off" onChange={(e) => setName(e.target.value)} />
        <button type="submit" data-testid="demo-join" disabled={!valid}>
          Join
        </button>
      </form>
      <p className="muted">{valid ? `You will be user "${user}".` : 'Any name of up to 40 characters; its letters and digits make your user id.'}</p>
      <p>
        <Link to={`${BASE}/`}>Back to the console</Link>
      </p>
    </main>
  );
}

function Room({ who, onLeave }: { who: DemoUser; onLeave: () => void }): ReactNode {
  const client = useClient();
  const { update } = useMyPresence<{ name: string }>(BOARD);
  const [status, setStatus] = useState<'online' | 'away'>('online');
  const [inboxOpen, setInboxOpen] = useState(false);
  const [dashboardOpen, setDashboardOpen] = useState(false);
  const joined = useRef(false);

  useEffect(() => {
    void update({ name: who.name }).catch(() => undefined);
  }, [update, who.name]);

  // Away while the tab is hidden or when chosen; the server marks a quiet connection idle.
  useEffect(() => {
    const onVisibility = () => setStatus(document.hidden ? 'away' : 'online');
    document.addEventListener('visibilitychange', onVisibility);
    return () => document.removeEventListener('visibilitychange', onVisibility);
  }, []);
  useEffect(() => {
    void client?.setStatus(status).catch(() => undefined);
  }, [client, status]);

  // One "joined" in the board's activity feed per visit, once connected (records are not queued offline).
  useEffect(() => {
    if (!client) return;
    const record = () => {
      if (joined.current) return;
      joined.current = true;
      void activity(client, BOARD)
        .record({ verb: 'joined', object: 'board' })
        .catch(() => undefined);
    };
    if (client.state === 'connected') record();
    return client.on('connected', record);
  }, [client]);

  return (
    <div className="demo">
      <header className="bar">
        <h1 className="brand">Demo workspace</h1>
        <ConnectionStatus className="demo-status" />
        <AvatarStack channel={BOARD} max={8} className="demo-avatars" />
        <label className="demo-inline">
          Status{' '}
          <select data-testid="my-status" value={status} onChange={(e) => setStatus(e.target.value as 'online' | 'away')}>
            <option value="online">online</option>
            <option value="away">away</option>
          </select>
        </label>
        <NotificationBell onClick={() => setInboxOpen(!inboxOpen)} expanded={inboxOpen} controls="demo-inbox" />
        <p className="scope">
          You are <strong data-testid="demo-me">{who.name}</strong> ({who.user}){' '}
          <button type="button" className="link" onClick={onLeave}>
            Leave
          </button>
        </p>
      </header>
      <div className="demo-inbox" hidden={!inboxOpen}>
        <NotificationInbox id="demo-inbox" types={['mention', 'message', 'system', 'alert']} pageSize={10} />
      </div>
      <main className="page demo-grid">
        <section aria-labelledby="demo-board-title" className="demo-panel demo-wide">
          <h2 id="demo-board-title">Board</h2>
          <LiveCursors channel={BOARD} throttleMs={30} className="demo-board">
            <p className="demo-board-hint" data-testid="demo-board">
              Move your pointer over the board: the others see it where you put it.
            </p>
          </LiveCursors>
        </section>
        <section aria-labelledby="demo-comments-title" className="demo-panel">
          <h2 id="demo-comments-title">Comments</h2>
          <CommentBox channel={BOARD} />
        </section>
        <section aria-labelledby="demo-notes-title" className="demo-panel">
          <h2 id="demo-notes-title">Shared note</h2>
          <Suspense fallback={<p aria-busy="true">Loading the note…</p>}>
            <Notes client={client} who={who} />
          </Suspense>
        </section>
        <section aria-labelledby="demo-lock-title" className="demo-panel">
          <h2 id="demo-lock-title">The plan (one editor at a time)</h2>
          <LockPanel who={who} />
        </section>
        <section aria-labelledby="demo-job-title" className="demo-panel">
          <h2 id="demo-job-title">Import job</h2>
          <JobProgress who={who} />
        </section>
        <section aria-labelledby="demo-load-title" className="demo-panel demo-wide">
          <h2 id="demo-load-title">Live load</h2>
          <p className="muted">Made-up web traffic the server generates into tenant demo's metric series while the demo is on.</p>
          <Suspense fallback={<p aria-busy="true">Loading the charts…</p>}>
            <MetricCharts />
          </Suspense>
        </section>
        <section aria-labelledby="demo-dashboard-title" className="demo-panel demo-wide">
          <h2 id="demo-dashboard-title">Shared dashboard</h2>
          <button type="button" data-testid="dashboard-open" aria-pressed={dashboardOpen} onClick={() => setDashboardOpen(!dashboardOpen)}>
            {dashboardOpen ? 'Close the dashboard' : 'Open the dashboard'}
          </button>
          {dashboardOpen ? <Dashboard who={who} /> : <p className="muted">Open it to see who else is viewing it, and their pointers.</p>}
        </section>
        <section aria-labelledby="demo-activity-title" className="demo-panel demo-wide">
          <h2 id="demo-activity-title">Activity</h2>
          <ActivityTimeline scope={BOARD} verbs={['joined', 'commented', 'ran']} pageSize={20} label="Board activity" />
        </section>
      </main>
      {/* Toasts stay until dismissed or read (here or in another tab). */}
      <Toaster duration={0} />
    </div>
  );
}
