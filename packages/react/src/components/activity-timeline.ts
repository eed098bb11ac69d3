import type { Activity } from '@switchboard/client/activity';
import type { ReactNode } from 'react';
import { createElement as h, useRef, useState } from '../externals.js';
import { useActivity } from '../hooks.js';
import { className } from './class-name.js';
import { filter, pagedList } from './paged-list.js';
import { timeLabel } from './time-label.js';

/** Props of `ActivityTimeline`. */
export interface ActivityTimelineProps {
  /** The feed's scope, e.g. `project:42`. */
  scope: string;
  /** Users offered by the user filter, besides those in the feed. */
  actors?: readonly string[];
  /** Types (verbs) offered by the type filter, besides those in the feed. */
  verbs?: readonly string[];
  /** Activities per page (default 20). */
  pageSize?: number;
  /** The list's name (default "Activity"). */
  label?: string;
  className?: string;
}

/** The time-range filter's choices: a window back from when it is chosen. */
const RANGES: ReadonlyArray<readonly [label: string, ms: number]> = [
  ['Any time', 0],
  ['Last hour', 3_600_000],
  ['Last 24 hours', 86_400_000],
  ['Last 7 days', 604_800_000],
  ['Last 30 days', 2_592_000_000],
];

/** The sorted union of the given options and every value the feed has shown. */
function optionsOf(given: readonly string[] | undefined, seen: ReadonlySet<string>): string[] {
  return [...new Set([...(given ?? []), ...seen])].sort();
}

function item(a: Activity): ReactNode {
  return h(
    'li',
    { key: a.id, className: 'sb-activity', 'data-testid': 'activity-item', 'data-actor': a.actor, 'data-verb': a.verb },
    h('span', { className: 'sb-activity-actor' }, a.actor),
    ' ',
    h('span', { className: 'sb-activity-verb' }, a.verb),
    a.object !== null && [' ', h('span', { key: 'o', className: 'sb-activity-object' }, a.object)],
    a.target !== null && [' → ', h('span', { key: 't', className: 'sb-activity-target' }, a.target)],
    a.count > 1 && h('span', { className: 'sb-activity-count', 'aria-label': `${a.count} times` }, ` ×${a.count}`),
    ' ',
    timeLabel(a.lastTime, 'sb-activity-time'),
  );
}

/**
 * A scope's activity feed, newest first and live, with filters by user, type (verb) and time
 * range, and infinite scroll (as `NotificationInbox`). Every field is rendered as text.
 *
 * @example
 * <ActivityTimeline scope="project:42" verbs={['commented', 'moved', 'completed']} />
 */
export function ActivityTimeline(props: ActivityTimelineProps): ReactNode {
  const [actor, setActor] = useState('');
  const [verb, setVerb] = useState('');
  const [range, setRange] = useState<{ index: number; since?: number }>({ index: 0 });
  const list = useActivity(props.scope, {
    ...(actor !== '' ? { actor } : {}),
    ...(verb !== '' ? { verb } : {}),
    ...(range.since !== undefined ? { since: range.since } : {}),
    ...(props.pageSize !== undefined ? { pageSize: props.pageSize } : {}),
  });
  const items = list.data ?? [];
  // Users and types seen in this scope's feed stay offered when a filter hides them (adding is idempotent).
  const seen = useRef({ scope: props.scope, actors: new Set<string>(), verbs: new Set<string>() });
  if (seen.current.scope !== props.scope) seen.current = { scope: props.scope, actors: new Set(), verbs: new Set() };
  for (const a of items) {
    seen.current.actors.add(a.actor);
    seen.current.verbs.add(a.verb);
  }
  const chooseRange = (value: string) => {
    const index = Number(value);
    const ms = RANGES[index]?.[1] ?? 0;
    setRange(ms > 0 ? { index, since: Date.now() - ms } : { index });
  };
  return pagedList(
    'sb-activity',
    { className: className('sb-activity-timeline', props.className), 'aria-label': props.label ?? 'Activity' },
    list.error && `Activity unavailable (${list.error.code})`,
    'ol',
    list,
    items.map(item),
    'No activity',
    filter('sb-activity-filter', 'User', actor, setActor, optionsOf(props.actors, seen.current.actors)),
    filter('sb-activity-filter', 'Type', verb, setVerb, optionsOf(props.verbs, seen.current.verbs)),
    filter(
      'sb-activity-filter',
      'Time',
      String(range.index),
      chooseRange,
      RANGES.map((_, i) => String(i)),
      RANGES.map(([label]) => label),
    ),
  );
}
