import type { Peer } from './peer.js';
import { sleep } from './proc.js';
import type { SubscriberReply, SubscriberRequest } from './subscriber-ipc.js';

/**
 * After publishing stops: wait until the workers have received `expected` measured
 * deliveries, or nothing arrived for 3 s, or `boundMs` passed. Returns what arrived.
 * Warm-up deliveries count as progress: a saturated server may still be working off the
 * warm-up's backlog before the first measured publication arrives.
 */
export async function drainDeliveries(workers: Array<Peer<SubscriberRequest, SubscriberReply>>, expected: number, boundMs: number): Promise<number> {
  let received = 0;
  let seenAll = 0;
  let lastChange = Date.now();
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    // A worker far behind answers IPC late: its event loop is busy reading deliveries.
    const counts = await Promise.all(workers.map((w) => w.request({ type: 'count' }, 'count', 60_000)));
    received = counts.reduce((a, c) => a + c.received, 0);
    const seen = counts.reduce((a, c) => a + c.received + c.warmReceived, 0);
    if (seen !== seenAll) {
      seenAll = seen;
      lastChange = Date.now();
    }
    if (received >= expected || Date.now() - lastChange > 3000) break;
    await sleep(50);
  }
  return received;
}
