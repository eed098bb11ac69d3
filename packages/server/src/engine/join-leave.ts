import type { Config } from '../config/schema.js';

/**
 * Whether a channel (by its `tenant|namespace:name` key) pushes join/leave events, from its
 * namespace's options: what an engine needs to announce the departures it notices itself.
 */
export function joinLeaveOf(config: Readonly<Config>): (key: string) => boolean {
  return (key: string) => {
    const channel = key.slice(key.indexOf('|') + 1);
    const colon = channel.indexOf(':');
    const namespace = colon === -1 ? channel : channel.slice(0, colon);
    return Object.hasOwn(config.namespaces, namespace) && (config.namespaces[namespace]?.joinLeave ?? false);
  };
}
