import { ErrorCode, SwitchboardError } from '@switchboard/client';
import { type LockInfo, type LockReleaseReason, locks } from '@switchboard/client/locks';
import { useClient } from '@switchboard/react';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { describeError } from '../api';
import type { DemoUser } from './token';

/** The lock panel's channel: the only one a demo token may take locks on. */
export const PLAN = 'demo:plan';
/** The one key locked there: "the plan". */
const KEY = 'plan';
/** How long a take waits for the holder to let go when waiting is chosen (the server allows up to 30 s). */
const WAIT_MS = 15_000;
const EVENTS_SHOWN = 6;

/** Why a lock went, as the panel tells it. */
const REASONS: Record<LockReleaseReason, string> = {
  released: 'released by its holder',
  disconnect: 'its holder closed the tab (connection closed): released at once',
  'connection-lost': 'its holder’s connection dropped and did not come back within the grace: released',
  'node-down': 'the server node holding it went away: released',
  expired: 'its lease ran out',
  forced: 'taken back',
  lost: 'its lease could not be kept',
};

/** The name a holder gave with its lock (its `name` attribute), else its user id; shown as text. */
function holderName(holder: unknown): string {
  const h = holder as { user?: unknown; attributes?: { name?: unknown } } | null;
  const name = h?.attributes?.name;
  if (typeof name === 'string' && name !== '') return name.slice(0, 64);
  return typeof h?.user === 'string' ? h.user : 'someone';
}

/** A push of the lock service on the channel (`{"kind":"lock","event":…}`, docs/locks.md). */
type LockPush = { kind: 'lock'; event: 'acquired'; lock: LockInfo } | { kind: 'lock'; event: 'released'; lock: LockInfo; reason: LockReleaseReason };

type Phase = { is: 'idle' } | { is: 'waiting' } | { is: 'holding'; token: number } | { is: 'refused'; text: string };

/**
 * "Edit the plan": one lock (`@switchboard/client/locks`) that one viewer at a time holds.
 * Who holds it, with its fencing token, comes from the lock service's pushes on `demo:plan`
 * (the subscribe reply's snapshot, then every grant and release); a take waits up to 15 s for
 * the holder when asked to, else is refused at once; a holder closing its tab releases it.
 */
export function LockPanel({ who }: { who: DemoUser }): ReactNode {
  const client = useClient();
  const [holder, setHolder] = useState<LockInfo | null>(null);
  const [phase, setPhase] = useState<Phase>({ is: 'idle' });
  const [wait, setWait] = useState(true);
  const [events, setEvents] = useState<Array<{ id: number; text: string }>>([]);
  const eventId = useRef(0);

  useEffect(() => {
    if (!client) return;
    const plan = locks(client, PLAN);
    const log = (text: string) => setEvents((all) => [{ id: ++eventId.current, text }, ...all].slice(0, EVENTS_SHOWN));
    const show = (lock: LockInfo | null) => setHolder(lock);
    show(plan.get(KEY) ?? null);
    const offUpdate = plan.on('update', ({ key, lock }) => {
      if (key === KEY) show(lock);
    });
    // The lock service's own pushes, in the channel's order: every grant and every release with its reason.
    const offPush = client.subscribe(PLAN).on('publication', ({ data }) => {
      const push = data as LockPush | null;
      if (push?.kind !== 'lock' || push.lock?.key !== KEY) return;
      const { holder: by, fencingToken } = push.lock;
      if (push.event === 'acquired') log(`${holderName(by)} took it (fencing token ${fencingToken})`);
      else log(`${holderName(by)}’s lock (token ${fencingToken}): ${REASONS[push.reason] ?? 'released'}`);
    });
    const offLost = plan.on('lost', ({ key, reason }) => {
      if (key === KEY) setPhase({ is: 'refused', text: `You lost the lock: ${REASONS[reason]}.` });
    });
    return () => {
      offUpdate();
      offPush();
      offLost();
    };
  }, [client]);

  const take = async () => {
    if (!client) return;
    setPhase({ is: 'waiting' });
    try {
      const lock = await locks(client, PLAN).acquire(KEY, { attributes: { name: who.name }, waitMs: wait ? WAIT_MS : 0 });
      setPhase({ is: 'holding', token: lock.fencingToken });
    } catch (err) {
      const busy = err instanceof SwitchboardError && err.code === ErrorCode.Locked.code;
      const by = busy ? holderName((err.data as { holder?: unknown } | undefined)?.holder) : '';
      setPhase({ is: 'refused', text: busy ? `Refused: ${by} holds it${wait ? ` still, after ${WAIT_MS / 1000} s` : ''}.` : describeError(err) });
    }
  };

  const release = async () => {
    if (!client) return;
    try {
      await locks(client, PLAN).release(KEY);
      setPhase({ is: 'idle' });
    } catch (err) {
      setPhase({ is: 'refused', text: describeError(err) });
    }
  };

  const mine = phase.is === 'holding' && holder?.fencingToken === phase.token;
  return (
    <div className="demo-lock">
      <p data-testid="demo-lock-holder" data-user={holder?.holder.user ?? ''} data-token={holder?.fencingToken ?? ''}>
        {holder ? (
          <>
            Held by <strong>{holderName(holder.holder)}</strong> ({holder.holder.user}), fencing token {holder.fencingToken}
            {holder.expiresAt === null ? ', while their connection lasts' : ''}
          </>
        ) : (
          'Free: nobody is editing the plan.'
        )}
      </p>
      <div className="demo-row">
        <button type="button" data-testid="demo-lock-take" disabled={phase.is === 'waiting' || mine} onClick={() => void take()}>
          Edit the plan
        </button>
        <button type="button" data-testid="demo-lock-release" disabled={!mine} onClick={() => void release()}>
          Done: release
        </button>
        <label className="demo-inline">
          <input type="checkbox" data-testid="demo-lock-wait" checked={wait} disabled={phase.is === 'waiting'} onChange={(e) => setWait(e.target.checked)} />
          wait up to {WAIT_MS / 1000} s
        </label>
      </div>
      <p data-testid="demo-lock-state" data-state={mine ? 'holding' : phase.is} aria-live="polite">
        {phase.is === 'waiting' && `Waiting for ${holder ? holderName(holder.holder) : 'the holder'} to let go…`}
        {mine && `You hold the lock: edit away. Writes carry fencing token ${phase.token}.`}
        {phase.is === 'refused' && phase.text}
      </p>
      <ol className="demo-lock-events" aria-label="Lock events, newest first">
        {events.map((e) => (
          <li key={e.id} data-testid="demo-lock-event">
            {e.text}
          </li>
        ))}
      </ol>
    </div>
  );
}
