import { defineFeature, type Hooks } from '@switchboard/server';

/**
 * A feature that only listens: every lifecycle hook appends one line to `log`, so a test
 * can check that each fires once, in order, with the right arguments.
 */
export function lifecycleFeature(log: string[]) {
  const who = (client: { identity: { user: string } | null }) => client.identity?.user ?? '?';
  const hooks: Hooks = {
    afterSubscribe: ({ client, channel, recovered }) => {
      log.push(`afterSubscribe ${who(client)} ${channel.channel} recovered=${recovered}`);
    },
    onUnsubscribe: ({ client, channel, reason }) => {
      log.push(`onUnsubscribe ${who(client)} ${channel.channel} ${reason}`);
    },
    onPresenceJoin: ({ client, channel, state }) => {
      log.push(`onPresenceJoin ${who(client)} ${channel.channel} ${state}`);
    },
    onPresenceUpdate: ({ client, channel, state }) => {
      log.push(`onPresenceUpdate ${who(client)} ${channel.channel} ${state}`);
    },
    onPresenceLeave: ({ client, channel }) => {
      log.push(`onPresenceLeave ${who(client)} ${channel.channel}`);
    },
    onConnectionLost: ({ client }) => {
      log.push(`onConnectionLost ${who(client)}`);
    },
    onDisconnect: ({ client, code, lost, durationMs }) => {
      log.push(`onDisconnect ${who(client)} ${code}${lost ? ' lost' : ''}${durationMs >= 0 && Number.isInteger(durationMs) ? '' : ' bad-duration'}`);
    },
  };
  return defineFeature({ name: 'lifecycle', hooks });
}
