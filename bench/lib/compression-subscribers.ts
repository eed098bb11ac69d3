/**
 * A subscriber process of bench/compression.ts: its share of the subscribers of one target,
 * so that inflating and parsing what they receive is spread over processes, not one harness.
 *
 * Driven over IPC: `start` (open the subscribers, answer `subscribed` or `failed`), then
 * `delivered` is sent once every own subscriber got every publication; `report` asks for the
 * count so far and the subscribers whose connection was lost (answer `report`); `stop` closes the subscribers and exits.
 */
import { openPeers, PayloadCheck, type Peer, type Target } from './compression-peers.js';

export interface SubscribersStart {
  type: 'start';
  target: Target;
  port: number;
  secret: string;
  /** Number of this process's first subscriber (users are `u<n>`). */
  first: number;
  count: number;
  /** Publications `payload(0)` … `payload(publications - 1)` expected by every subscriber. */
  publications: number;
}

export type SubscribersCommand = SubscribersStart | { type: 'report' } | { type: 'stop' };

export type SubscribersReply =
  | { type: 'subscribed'; negotiated: number }
  | { type: 'failed'; message: string }
  | ({ type: 'delivered' | 'report' } & SubscribersCount);

/** Deliveries so far, whether each was intact, and the subscribers whose connection was lost (with the distinct reasons). */
export interface SubscribersCount {
  deliveries: number;
  intact: boolean;
  lost: number;
  reasons: string[];
}

const send = (msg: SubscribersReply) => process.send?.(msg);
let peers: Peer[] = [];
let check: PayloadCheck | undefined;

function count(): SubscribersCount {
  const reasons = peers.map((p) => p.lost()).filter((r) => r !== undefined);
  return { deliveries: check?.deliveries ?? 0, intact: check?.intact ?? true, lost: reasons.length, reasons: [...new Set(reasons)] };
}

async function start(msg: SubscribersStart): Promise<void> {
  const c = new PayloadCheck(msg.publications);
  check = c;
  const expected = msg.publications * msg.count;
  let announced = false;
  const onData = (data: { n: number }) => {
    c.onData(data);
    if (!announced && c.deliveries >= expected) {
      announced = true;
      send({ type: 'delivered', ...count() });
    }
  };
  try {
    peers = await openPeers(msg.target, msg.port, msg.secret, msg.first, msg.count, onData);
    send({ type: 'subscribed', negotiated: peers.filter((p) => p.deflate()).length });
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message });
  }
}

process.on('message', (msg: SubscribersCommand) => {
  if (msg.type === 'start') void start(msg);
  else if (msg.type === 'report') send({ type: 'report', ...count() });
  else if (msg.type === 'stop') {
    for (const p of peers) p.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
