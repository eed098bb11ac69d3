import type { PublicationPriority } from '@switchboard/protocol';
import type { ChannelEvent, StreamPublication } from '../broker.js';

/** A priority as one letter, in a topic message and a stream entry. */
const LETTERS: Record<PublicationPriority, string> = { critical: 'c', high: 'h', normal: 'n', low: 'l' };
const PRIORITIES: Record<string, PublicationPriority> = { c: 'critical', h: 'high', n: 'normal', l: 'low' };

export function priorityLetter(priority: PublicationPriority): string {
  return LETTERS[priority];
}

/**
 * Messages on a channel's topic. A publication is written by the publish script as
 * `p{epoch}\n{offset}\n{time}\n{info JSON or ''}\n{data}` (data last: it may hold newlines),
 * or with tags as `q{epoch}\n{offset}\n{time}\n{info JSON or ''}\n{tags JSON}\n{data}`;
 * a publication with a delivery priority has it ahead, as `r{letter}` (`c`ritical, `h`igh,
 * `n`ormal, `l`ow) then the `p` or `q` form; an event is `e{event JSON}`. All share the
 * topic, so a node sees them in publish order.
 */
export type TopicMessage = { kind: 'publication'; epoch: string; pub: StreamPublication } | { kind: 'event'; event: ChannelEvent };

export function encodeEvent(event: ChannelEvent): string {
  return `e${JSON.stringify(event)}`;
}

export function decodeTopicMessage(message: string): TopicMessage | null {
  if (message.startsWith('e')) return { kind: 'event', event: JSON.parse(message.slice(1)) as ChannelEvent };
  if (message.startsWith('r')) {
    const priority = PRIORITIES[message.charAt(1)];
    const decoded = priority === undefined ? null : decodeTopicMessage(message.slice(2));
    if (decoded === null || decoded.kind !== 'publication' || priority === undefined) return null;
    decoded.pub.priority = priority;
    return decoded;
  }
  const tagged = message.startsWith('q');
  if (!tagged && !message.startsWith('p')) return null;
  const a = message.indexOf('\n');
  const b = message.indexOf('\n', a + 1);
  const c = message.indexOf('\n', b + 1);
  const d = message.indexOf('\n', c + 1);
  const e = tagged ? message.indexOf('\n', d + 1) : d;
  if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0) return null;
  const pub: StreamPublication = { offset: Number(message.slice(a + 1, b)), time: Number(message.slice(b + 1, c)), data: message.slice(e + 1) };
  if (d > c + 1) pub.info = JSON.parse(message.slice(c + 1, d)) as StreamPublication['info'] & object;
  if (tagged) pub.tags = JSON.parse(message.slice(d + 1, e)) as StreamPublication['tags'] & object;
  return { kind: 'publication', epoch: message.slice(1, a), pub };
}

/** A history entry `[id, [field, value, …]]` as the publish script wrote it (id `{epoch}-{offset}`). */
export function decodeHistoryEntry(entry: [string, string[]]): StreamPublication {
  const [id, fields] = entry;
  const pub: StreamPublication = { offset: Number(id.slice(id.indexOf('-') + 1)), time: 0, data: '' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case 'd':
        pub.data = value;
        break;
      case 't':
        pub.time = Number(value);
        break;
      case 'i':
        pub.info = JSON.parse(value) as StreamPublication['info'] & object;
        break;
      case 'g':
        pub.tags = JSON.parse(value) as StreamPublication['tags'] & object;
        break;
      case 'r':
        if (PRIORITIES[value] !== undefined) pub.priority = PRIORITIES[value];
        break;
      default:
        break;
    }
  }
  return pub;
}
