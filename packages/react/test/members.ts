import type { ClientOptions, Subscription, SwitchboardClient } from '@switchboard/client';
import { waitFor } from '../../client/test/wait-for.js';
import type { Harness } from './harness.js';

/** A member on the channel through the plain SDK (signals unthrottled), present with `state`. */
export async function member(
  t: Harness,
  user: string,
  channel: string,
  state: unknown,
  options: ClientOptions = {},
): Promise<{ client: SwitchboardClient; sub: Subscription }> {
  const client = t.client(user, { signalInterval: 0, ...options });
  const sub = client.subscribe(channel);
  client.connect();
  await waitFor(sub, 'subscribed');
  await sub.enterPresence(state);
  return { client, sub };
}
