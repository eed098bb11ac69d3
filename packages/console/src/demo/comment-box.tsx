import { activity } from '@switchboard/client/activity';
import { comments, type Thread } from '@switchboard/client/comments';
import { TypingIndicator, useClient, useTyping } from '@switchboard/react';
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { describeError } from '../api';

/** `@user` words of a comment: each mentioned user gets a `mention` notification. */
export function mentionsOf(body: string): string[] {
  return [...new Set([...body.matchAll(/(?:^|\s)@([A-Za-z0-9_-]{1,32})/g)].map((m) => m[1] as string))].slice(0, 10);
}

const SHOWN = 30;

/** Newest first, one entry per thread. */
function merge(list: readonly Thread[], more: readonly Thread[]): Thread[] {
  const byId = new Map(list.map((t) => [t.id, t]));
  for (const t of more) byId.set(t.id, t);
  return [...byId.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, SHOWN);
}

/**
 * A comment box on a channel: each comment starts a thread (comments feature), `@name`
 * mentions notify, typing shows in the others' indicator, and new comments arrive live.
 */
export function CommentBox({ channel }: { channel: string }): ReactNode {
  const client = useClient();
  const { setTyping } = useTyping(channel);
  const [body, setBody] = useState('');
  const [threads, setThreads] = useState<Thread[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!client) return;
    const board = comments(client, channel);
    let live = true;
    const load = () =>
      board.list({ limit: SHOWN }).then(
        (page) => live && setThreads((all) => merge(all, page.threads)),
        (err: unknown) => live && setError(describeError(err)),
      );
    const offThread = board.on('thread', (e) => {
      if (e.action === 'created' && 'comments' in e.thread) setThreads((all) => merge(all, [e.thread as Thread]));
    });
    // After a reconnect, list again: the live channel keeps no history.
    const offConnected = client.on('connected', () => void load());
    if (client.state === 'connected') void load();
    return () => {
      live = false;
      offThread();
      offConnected();
    };
  }, [client, channel]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const text = body.trim();
    if (!client || text === '') return;
    setTyping(false);
    setBody('');
    setError(null);
    try {
      const { thread } = await comments(client, channel).createThread({ body: text, mentions: mentionsOf(text) });
      setThreads((all) => merge(all, [thread]));
      void activity(client, channel)
        .record({ verb: 'commented', object: `thread:${thread.id}` })
        .catch(() => undefined);
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <div className="demo-comments">
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="comment-body">Comment (mention someone with @their-id)</label>
        <textarea
          id="comment-body"
          data-testid="comment-body"
          rows={3}
          maxLength={2000}
          value={body}
          onChange={(e) => {
            setBody(e.target.value);
            setTyping(e.target.value !== '');
          }}
          onBlur={() => setTyping(false)}
        />
        <div className="demo-row">
          <button type="submit" data-testid="comment-submit" disabled={body.trim() === ''}>
            Comment
          </button>
          <TypingIndicator channel={channel} />
        </div>
      </form>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <ul className="demo-comment-list" aria-label="Comments">
        {threads.map((t) => (
          <li key={t.id} data-testid="comment-item">
            <strong>{t.createdBy}</strong> <span>{t.comments[0]?.body ?? ''}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
