/**
 * Channel names: `namespace` or `namespace:name`. The namespace is lower-case ASCII;
 * the name is printable ASCII from a small set, split by ':' into non-empty parts.
 * Look-alike Unicode, control characters, separators used internally and empty parts
 * are refused, so a name means one thing only. The tenant is never part of a name.
 */
export const CHANNEL_MAX_LENGTH = 255;

const NAMESPACE_RE = /^[a-z][a-z0-9_-]{0,63}$/;
const PART_RE = /^[A-Za-z0-9_\-.@=+,;~!$*()']+$/;

export interface ChannelName {
  namespace: string;
  /** The part after the first ':' ('' for a bare namespace channel such as `system`). */
  name: string;
}

/** Parse a channel name, or return null when it is not valid. */
export function parseChannel(channel: unknown, maxLength = CHANNEL_MAX_LENGTH): ChannelName | null {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > maxLength) return null;
  const colon = channel.indexOf(':');
  const namespace = colon === -1 ? channel : channel.slice(0, colon);
  if (!NAMESPACE_RE.test(namespace)) return null;
  if (colon === -1) return { namespace, name: '' };
  const name = channel.slice(colon + 1);
  for (const part of name.split(':')) if (!PART_RE.test(part)) return null;
  return { namespace, name };
}

/** Tenant ids: 1–64 characters of [A-Za-z0-9_-]. */
export const TENANT_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** User ids (`sub`): 1–128 characters of the channel-name set, so `user:{sub}` is always a valid channel. */
export const USER_RE = /^[A-Za-z0-9_\-.@=+,;~!$*()']{1,128}$/;
