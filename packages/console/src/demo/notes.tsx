import type { FeatureHost } from '@switchboard/client';
import { type DocumentStatusEvent, documents } from '@switchboard/client/documents';
import { type ReactNode, type RefObject, useEffect, useRef, useState } from 'react';
import * as Y from 'yjs';
import { describeError } from '../api';
import { changeBetween, lineAndColumn, shiftPosition } from './text-diff';
import type { DemoUser } from './token';

/** The shared note: a Yjs document of the demo namespace, its text in the root `body`. */
export const NOTES = 'demo:notes';
const BODY = 'body';
/** At most this many characters typed or pasted at once: the demo namespace takes updates of at most 64 KiB. */
const MAX_LENGTH = 16_000;
/** What this page's own edits are marked with, so that their echo does not move the caret. */
const TYPED = Symbol('textarea');

/** Another editor of the note, from its awareness state: who, and where its caret is. */
interface Editor {
  clientId: number;
  user: string;
  name: string;
  /** The caret (head of the selection) and the selection's length; null while it is not in the note. */
  at: { index: number; selected: number } | null;
}

interface Caret {
  anchor: unknown;
  head: unknown;
}

const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v.slice(0, 64) : fallback);

/** A position kept across everyone's edits (a Yjs relative position), as JSON for awareness. */
const relative = (text: Y.Text, index: number): unknown => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, index));
function absolute(doc: Y.Doc, json: unknown): number | null {
  try {
    return Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), doc)?.index ?? null;
  } catch {
    return null;
  }
}

/** The other editors of the note, by their awareness states (a state without a user is not one). */
function editorsOf(doc: Y.Doc, states: Map<number, Record<string, unknown>>): Editor[] {
  const list: Editor[] = [];
  for (const [clientId, state] of states) {
    const user = state['user'] as { id?: unknown; name?: unknown } | undefined;
    if (clientId === doc.clientID || !user) continue;
    const caret = state['cursor'] as Caret | null | undefined;
    const anchor = caret ? absolute(doc, caret.anchor) : null;
    const head = caret ? absolute(doc, caret.head) : null;
    list.push({
      clientId,
      user: str(user.id, '?'),
      name: str(user.name, str(user.id, '?')),
      at: anchor === null || head === null ? null : { index: head, selected: Math.abs(head - anchor) },
    });
  }
  return list.sort((a, b) => a.name.localeCompare(b.name) || a.clientId - b.clientId);
}

/** A colour of its own per user (the same in every window), dark enough for white text. */
function colourOf(user: string): string {
  let hash = 0;
  for (let i = 0; i < user.length; i++) hash = (hash * 31 + user.charCodeAt(i)) >>> 0;
  return `hsl(${hash % 360} 70% 25%)`;
}

/**
 * The other editors' carets drawn over the textarea: a copy of its text, transparent, laid
 * out exactly as the textarea lays it out (same box, font, wrapping, scroll), with a coloured
 * bar and the editor's name where each caret is.
 */
function Carets({ text, editors, mirror }: { text: string; editors: Editor[]; mirror: RefObject<HTMLDivElement | null> }): ReactNode {
  const placed = editors.filter((e) => e.at !== null).sort((x, y) => (x.at?.index ?? 0) - (y.at?.index ?? 0));
  const parts: ReactNode[] = [];
  let from = 0;
  for (const e of placed) {
    const at = Math.min(e.at?.index ?? 0, text.length);
    parts.push(text.slice(from, at));
    const colour = colourOf(e.user);
    parts.push(
      <span key={e.clientId} className="demo-caret" data-testid="demo-notes-caret" data-user={e.user} style={{ borderColor: colour }}>
        <span className="demo-caret-name" style={{ background: colour }}>
          {e.name}
        </span>
      </span>,
    );
    from = at;
  }
  parts.push(text.slice(from));
  return (
    <div className="demo-notes-carets" aria-hidden="true" ref={mirror}>
      {parts}
    </div>
  );
}

function statusText({ status, unacknowledged }: DocumentStatusEvent): string {
  if (status === 'synced') return 'Saved: the server stored every change.';
  if (status === 'syncing') return unacknowledged > 0 ? `Saving: ${unacknowledged} change(s) not stored yet…` : 'Syncing…';
  return unacknowledged > 0
    ? `Offline: ${unacknowledged} edit(s) kept here, sent when the connection is back.`
    : 'Offline: edits are kept and sent on reconnect.';
}

/**
 * The shared note (`@switchboard/client/documents`): a plain textarea bound to a `Y.Text`.
 * Each local edit becomes one delete and one insert at the changed range; a remote change
 * rewrites the textarea and moves the caret by what changed before it. The other editors'
 * names and carets come from awareness (relative positions, so they follow everyone's
 * edits), and the status says whether the server stored everything. The workspace hands it
 * its client, so that this chunk shares no module of `@switchboard/react` with the workspace's.
 */
export default function Notes({ client, who }: { client: FeatureHost | null; who: DemoUser }): ReactNode {
  const area = useRef<HTMLTextAreaElement>(null);
  const mirror = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<DocumentStatusEvent>({ status: 'offline', unacknowledged: 0 });
  const [editors, setEditors] = useState<Editor[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const el = area.current;
    if (!client || !el) return;
    const handle = documents(client).open(NOTES);
    const { doc, awareness } = handle;
    const body = doc.getText(BODY);
    const showEditors = () => setEditors(editorsOf(doc, awareness.getStates() as Map<number, Record<string, unknown>>));
    el.value = body.toString();
    setText(el.value);
    setStatus({ status: handle.status, unacknowledged: handle.unacknowledged });
    awareness.setLocalStateField('user', { id: who.user, name: who.name });

    let sent: string | null = null;
    /** Tell the others where this caret is (nothing while the note is not focused). */
    const sendCaret = () => {
      const focused = document.activeElement === el;
      const key = focused ? `${el.selectionStart}:${el.selectionEnd}:${el.selectionDirection}` : '';
      if (key === sent) return;
      sent = key;
      const [anchor, head] = el.selectionDirection === 'backward' ? [el.selectionEnd, el.selectionStart] : [el.selectionStart, el.selectionEnd];
      awareness.setLocalStateField('cursor', focused ? { anchor: relative(body, anchor), head: relative(body, head) } : null);
    };

    const onChange = (event: Y.YTextEvent, tx: Y.Transaction) => {
      if (tx.origin !== TYPED) {
        const { selectionStart, selectionEnd, selectionDirection, scrollTop } = el;
        el.value = body.toString();
        el.setSelectionRange(shiftPosition(selectionStart, event.delta), shiftPosition(selectionEnd, event.delta), selectionDirection ?? 'none');
        el.scrollTop = scrollTop;
      }
      setText(body.toString());
      showEditors();
    };
    const onInput = () => {
      const change = changeBetween(body.toString(), el.value);
      if (change)
        doc.transact(() => {
          if (change.remove > 0) body.delete(change.index, change.remove);
          if (change.insert !== '') body.insert(change.index, change.insert);
        }, TYPED);
      sendCaret();
    };
    const onSelection = () => {
      if (document.activeElement === el) sendCaret();
    };
    const onScroll = () => {
      if (mirror.current) mirror.current.scrollTop = el.scrollTop;
    };

    body.observe(onChange);
    awareness.on('change', showEditors);
    const offStatus = handle.on('status', setStatus);
    const offError = handle.on('error', ({ error: e }) => setError(describeError(e)));
    el.addEventListener('input', onInput);
    el.addEventListener('scroll', onScroll);
    el.addEventListener('focus', sendCaret);
    el.addEventListener('blur', sendCaret);
    document.addEventListener('selectionchange', onSelection);
    showEditors();
    return () => {
      body.unobserve(onChange);
      awareness.off('change', showEditors);
      offStatus();
      offError();
      el.removeEventListener('input', onInput);
      el.removeEventListener('scroll', onScroll);
      el.removeEventListener('focus', sendCaret);
      el.removeEventListener('blur', sendCaret);
      document.removeEventListener('selectionchange', onSelection);
      handle.close();
    };
  }, [client, who.user, who.name]);

  return (
    <div className="demo-notes">
      <label htmlFor="demo-notes">Notes everyone here edits together</label>
      <div className="demo-notes-field">
        <textarea id="demo-notes" data-testid="demo-notes" ref={area} rows={8} maxLength={MAX_LENGTH} spellCheck={false} />
        <Carets text={text} editors={editors} mirror={mirror} />
      </div>
      <p className="muted" data-testid="demo-notes-status" data-state={status.status} data-pending={status.unacknowledged} aria-live="polite">
        {statusText(status)}
      </p>
      <ul className="demo-notes-editors" aria-label="Editing the note now">
        {editors.map((e) => {
          const at = e.at ? lineAndColumn(text, e.at.index) : null;
          return (
            <li key={e.clientId} data-testid="demo-notes-editor" data-user={e.user} data-caret={e.at?.index ?? ''}>
              <strong>{e.name}</strong>{' '}
              <span className="muted">
                {at ? `line ${at.line}, column ${at.column}${e.at?.selected ? `, ${e.at.selected} selected` : ''}` : 'elsewhere on the page'}
              </span>
            </li>
          );
        })}
      </ul>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
