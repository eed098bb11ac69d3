import type { ReactNode } from 'react';
import { createElement as h } from '../externals.js';
import { useTyping } from '../hooks.js';
import { className } from './class-name.js';

/** Props of `TypingIndicator`. */
export interface TypingIndicatorProps {
  /** The channel whose typing signals are shown (needs the `signal` capability). */
  channel: string;
  className?: string;
}

/** "ann is typing…", "ann and bob are typing…", "ann, bob and 2 others are typing…". */
function typingText(users: readonly string[]): string {
  const [first, second, third] = users;
  if (users.length === 1) return `${first} is typing…`;
  if (users.length === 2) return `${first} and ${second} are typing…`;
  if (users.length === 3) return `${first}, ${second} and ${third} are typing…`;
  return `${first}, ${second} and ${users.length - 2} others are typing…`;
}

/**
 * Who else is typing on a channel, in a polite live region; the text disappears when they
 * stop or 5 s after their last keystroke. Pair it with `useTyping(channel).setTyping` in the
 * app's input.
 *
 * @example
 * <TypingIndicator channel="chat:lobby" />
 */
export function TypingIndicator(props: TypingIndicatorProps): ReactNode {
  const { data } = useTyping(props.channel);
  const users = data ?? [];
  return h(
    'div',
    { className: className('sb-typing', props.className), role: 'status' },
    users.length > 0 && h('span', { 'data-testid': 'typing-indicator' }, typingText(users)),
  );
}
