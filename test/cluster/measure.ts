/**
 * Rough numbers for docs/operations.md (not a test): fan-out throughput on one node
 * (memory engine, redis engine) vs three redis nodes, and Redis commands per publication.
 *   npm run build && npx tsx test/cluster/measure.ts [subscribers] [publications]
 */
import { Redis } from 'ioredis';
import { RawClient } from '../helpers/raw-client.js';
import { type ClusterNode, dropPrefix, newPrefix, REDIS_URL, startNode, stopAll, token } from './cluster.js';

const SUBSCRIBERS = Number(process.argv[2] ?? 150);
const PUBLICATIONS = Number(process.argv[3] ?? 1000);
const WINDOW = 100;
const HIGH = {
  newConnectionsPerIpPerSecond: 100_000,
  commandsPerSecond: 1_000_000,
  publishPerSecondPerConnection: 1_000_000,
  eventsPerMinutePerUser: 100_000_000,
  connectionsPerUser: 1_000_000,
};

async function fanOut(label: string, nodes: ClusterNode[]): Promise<void> {
  const subs: RawClient[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = await RawClient.connect((nodes[i % nodes.length] as ClusterNode).url, await token(`sub${i}`));
    await c.call('subscribe', { channel: 'project:bench' });
    // From here on only count: RawClient would JSON.parse and keep every frame.
    c.ws.removeAllListeners('message');
    subs.push(c);
  }
  const pub = await RawClient.connect((nodes[0] as ClusterNode).url, await token('bench-pub'));
  const total = SUBSCRIBERS * PUBLICATIONS;
  let received = 0;
  let allReceived!: () => void;
  const done = new Promise<void>((resolve) => {
    allReceived = resolve;
  });
  for (const s of subs) {
    s.ws.on('message', (d: Buffer) => {
      const text = d.toString();
      for (let at = text.indexOf('"push":"pub"'); at !== -1; at = text.indexOf('"push":"pub"', at + 1)) received++;
      if (received >= total) allReceived();
    });
  }
  const started = process.hrtime.bigint();
  // Replies are counted from the raw socket: RawClient.waitFor rescans every frame per waiter.
  let replies = 0;
  let windowDone: () => void = () => {};
  pub.ws.on('message', (d: Buffer) => {
    replies += d
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('{"id":')).length;
    windowDone();
  });
  for (let sent = 0; sent < PUBLICATIONS; sent += WINDOW) {
    const target = Math.min(sent + WINDOW, PUBLICATIONS);
    const window = new Promise<void>((resolve) => {
      windowDone = () => {
        if (replies >= target) resolve();
      };
    });
    for (let k = sent; k < target; k++) pub.send('publish', { channel: 'project:bench', data: { k, pad: 'x'.repeat(100) } });
    await window;
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${label}: ${PUBLICATIONS} publications x ${SUBSCRIBERS} subscribers in ${seconds.toFixed(2)} s = ${(PUBLICATIONS / seconds).toFixed(0)} pub/s, ${(total / seconds).toFixed(0)} deliveries/s`,
  );
  for (const c of [...subs, pub]) c.terminate();
}

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

async function opsPerPublication(nodes: ClusterNode[]): Promise<void> {
  const admin = new Redis(REDIS_URL);
  const pub = await RawClient.connect((nodes[0] as ClusterNode).url, await token('ops-pub'));
  const subs = await Promise.all(
    nodes.map(async (n, i) => {
      const c = await RawClient.connect(n.url, await token(`ops-sub${i}`));
      await c.call('subscribe', { channel: 'project:ops' });
      return c;
    }),
  );
  const n = 500;
  const before = await commandStats(admin);
  for (let i = 0; i < n; i++) await pub.call('publish', { channel: 'project:ops', data: i });
  const after = await commandStats(admin);
  const rows = [...after]
    .map(([cmd, calls]) => [cmd, (calls - (before.get(cmd) ?? 0)) / n] as const)
    .filter(([, per]) => per >= 0.01)
    .sort((x, y) => y[1] - x[1]);
  console.log(`Redis commands per client publish (${nodes.length} nodes, each with a subscriber; includes background pings/heartbeats):`);
  for (const [cmd, per] of rows) console.log(`  ${cmd.padEnd(16)} ${per.toFixed(2)}`);
  for (const c of [...subs, pub]) c.terminate();
  await admin.quit();
}

const runs: Array<{ label: string; names: string[]; redis: boolean }> = [
  { label: '1 node, memory engine', names: ['m'], redis: false },
  { label: '1 node, redis engine', names: ['r'], redis: true },
  { label: '3 nodes, redis engine', names: ['x', 'y', 'z'], redis: true },
];
for (const run of runs) {
  const prefix = newPrefix('measure');
  const nodes = await Promise.all(
    run.names.map((name) => startNode(name, { prefix, config: { limits: HIGH, logLevel: 'error', ...(run.redis ? {} : { redis: undefined }) } })),
  );
  try {
    await fanOut(run.label, nodes);
    if (run.redis && nodes.length === 3) await opsPerPublication(nodes);
  } finally {
    await stopAll(nodes);
    await dropPrefix(prefix);
  }
}
