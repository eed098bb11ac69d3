/**
 * Delta delivery and server-side filters, each against its plain counterpart on the same
 * fan-out: N raw WebSocket subscribers on one channel, one publisher at R publications/s for
 * D seconds, each scenario on a fresh server process (bench/servers/switchboard.mjs with a
 * `doc` namespace that has delta delivery on).
 *
 *   npx tsx bench/delta-filters.ts [--subscribers 1000] [--rate 50] [--duration 5] [--rounds 2]
 *
 * - delta: a slowly changing ~4 KB JSON document (one field of one of 40 items changes per
 *   publication); subscribers with `delta: "fossil"` against subscribers without. Measured:
 *   payload bytes received per delivery and server CPU per delivery.
 * - filters: every subscriber on a different filter (`{"or":[{"tags":{"owner":"u<i>"}},
 *   {"tags":{"kind":["doc","note"]}}]}` — distinct per subscriber, and every publication,
 *   tagged `kind: doc`, matches all of them) against the same subscribers unfiltered, with the
 *   same tagged publications. Measured: server CPU per delivery.
 *
 * Server CPU = utime + stime of the server process from /proc over the measured window
 * (docs/benchmarks.md's method). Every subscriber must receive every publication, in order:
 * a run that does not is reported as such. Writes bench/results/delta-filters.json. Bounded:
 * ≤ 2,000 subscribers, ≤ 500 publications/s, ≤ 30 s per run, every wait has a deadline.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@switchboard/server';
import WebSocket from 'ws';
import { intFlag } from './lib/args.js';
import { cpuMicros, startServer, stopServer, until } from './lib/server-process.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const SUBSCRIBERS = intFlag('subscribers', 1000, 2000);
const RATE = intFlag('rate', 50, 500);
const DURATION = intFlag('duration', 5, 30);
const ROUNDS = intFlag('rounds', 2, 5);
const TICK_MS = 10;
const secret = randomBytes(32).toString('hex');
/** A raw protocol connection: connect, one command at a time by id, every message counted. */
class Peer {
  bytes = 0;
  pubs = 0;
  inOrder = true;
  #last = 0;
  #replies = new Map<number, (f: Record<string, unknown>) => void>();
  #id = 0;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.bytes += data.length;
      for (const line of data.toString().split('\n')) {
        if (line.startsWith('{"push":"pub"')) {
          const offset = Number(/"offset":(\d+)/.exec(line)?.[1]);
          if (offset !== this.#last + 1 && this.#last !== 0) this.inOrder = false;
          this.#last = offset;
          this.pubs++;
        } else if (line.startsWith('{"id":')) {
          const f = JSON.parse(line) as Record<string, unknown>;
          this.#replies.get(f['id'] as number)?.(f);
        }
      }
    });
  }
  static async open(url: string, token: string): Promise<Peer> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const peer = new Peer(ws);
    await peer.call('connect', { token });
    return peer;
  }
  call(method: string, params: unknown): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#replies.set(id, (f) => (f['error'] ? reject(new Error(`${method}: ${JSON.stringify(f['error'])}`)) : resolve(f)));
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  send(method: string, params: unknown): void {
    this.ws.send(JSON.stringify({ id: ++this.#id, method, params }));
  }
  /** Count from here on (the warm-up is not measured). */
  reset(): void {
    this.bytes = 0;
    this.pubs = 0;
  }
}

/** A ~4 KB document of 40 items; `next()` changes one field of one item. */
class SlowDoc {
  #n = 0;
  readonly #doc = {
    title: 'Release plan',
    items: Array.from({ length: 40 }, (_, i) => ({
      id: i,
      owner: `user-${i % 7}`,
      text: `task ${i}: ${'describe the step in a few words '.repeat(1)}`,
      done: false,
      votes: 0,
    })),
  };
  next(): unknown {
    const item = this.#doc.items[this.#n++ % 40] as { done: boolean; votes: number };
    if (this.#n % 3 === 0) item.done = !item.done;
    else item.votes++;
    return this.#doc;
  }
}

type Scenario = 'delta-off' | 'delta-on' | 'unfiltered' | 'filtered';

interface Row {
  scenario: Scenario;
  round: number;
  deliveries: number;
  expected: number;
  complete: boolean;
  bytesPerDelivery: number;
  cpuMicrosPerDelivery: number;
  docBytes: number;
}

async function run(scenario: Scenario, round: number): Promise<Row> {
  const { child, url } = await startServer(secret, { BENCH_NAMESPACES: JSON.stringify({ project: {}, doc: { delta: true } }) });
  const peers: Peer[] = [];
  try {
    const token = await mintToken(secret, {
      sub: 'bench',
      tenant: 'bench',
      caps: { 'project:*': ['subscribe', 'publish'], 'doc:*': ['subscribe', 'publish'] },
    });
    const isDelta = scenario.startsWith('delta');
    const channel = isDelta ? 'doc:spec' : 'project:feed';
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const p = await Peer.open(url, token);
      const params: Record<string, unknown> = { channel };
      if (scenario === 'delta-on') params['delta'] = 'fossil';
      if (scenario === 'filtered') params['filter'] = { or: [{ tags: { owner: `u${i}` } }, { tags: { kind: ['doc', 'note'] } }] };
      await p.call('subscribe', params);
      peers.push(p);
    }
    const publisher = await Peer.open(url, token);
    const doc = new SlowDoc();
    const payload = (n: number) => (isDelta ? doc.next() : { n, text: 'x'.repeat(100) });
    const tags = isDelta ? undefined : { kind: 'doc', owner: 'someone' };
    const publish = (n: number) => publisher.call('publish', { channel, data: payload(n), ...(tags ? { tags } : {}) });
    // Warm-up (JIT, buffers, the delta chain), not measured.
    for (let i = 0; i < RATE; i++) await publish(i);
    await until(() => peers.every((p) => p.pubs === RATE), 30_000, 'the warm-up');
    for (const p of peers) p.reset();
    const total = RATE * DURATION;
    const cpuBefore = cpuMicros(child.pid as number);
    const started = performance.now();
    const perTick = RATE / (1000 / TICK_MS);
    let sent = 0;
    const pending: Array<Promise<unknown>> = [];
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / TICK_MS + 1) * perTick));
      for (; sent < due; sent++) pending.push(publish(sent));
      await new Promise((r) => setTimeout(r, TICK_MS));
      if (performance.now() - started > DURATION * 4000) throw new Error('publishing fell far behind');
    }
    await Promise.all(pending);
    const expected = SUBSCRIBERS * total;
    const delivered = () => peers.reduce((a, p) => a + p.pubs, 0);
    await until(() => delivered() >= expected, Math.max(15_000, DURATION * 3000), `${expected} deliveries`).catch(() => {});
    const cpu = cpuMicros(child.pid as number) - cpuBefore;
    const deliveries = delivered();
    return {
      scenario,
      round,
      deliveries,
      expected,
      complete: deliveries === expected && peers.every((p) => p.inOrder),
      bytesPerDelivery: peers.reduce((a, p) => a + p.bytes, 0) / Math.max(1, deliveries),
      cpuMicrosPerDelivery: cpu / Math.max(1, deliveries),
      docBytes: isDelta ? Buffer.byteLength(JSON.stringify(doc.next())) : 0,
    };
  } finally {
    for (const p of peers) p.ws.terminate();
    await stopServer(child);
  }
}

const rows: Row[] = [];
const scenarios: Scenario[] = ['delta-off', 'delta-on', 'unfiltered', 'filtered'];
for (let round = 1; round <= ROUNDS; round++) {
  for (const scenario of scenarios) {
    process.stderr.write(`round ${round}: ${scenario}, ${SUBSCRIBERS} subscribers, ${RATE}/s for ${DURATION} s…\n`);
    rows.push(await run(scenario, round));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const summary = Object.fromEntries(
  scenarios.map((scenario) => {
    const of = rows.filter((r) => r.scenario === scenario);
    return [
      scenario,
      {
        bytesPerDelivery: median(of.map((r) => r.bytesPerDelivery)),
        cpuMicrosPerDelivery: median(of.map((r) => r.cpuMicrosPerDelivery)),
        complete: of.every((r) => r.complete),
        docBytes: of[0]?.docBytes ?? 0,
      },
    ];
  }),
) as Record<Scenario, { bytesPerDelivery: number; cpuMicrosPerDelivery: number; complete: boolean; docBytes: number }>;

const s = summary;
const lines = [
  `${SUBSCRIBERS} subscribers, ${RATE} publications/s for ${DURATION} s, median of ${ROUNDS} round(s); document ${s['delta-on'].docBytes} bytes of JSON`,
  '| scenario | payload bytes / delivery | server CPU µs / delivery | every publication once, in order |',
  '|---|---:|---:|---|',
  ...scenarios.map((k) => `| ${k} | ${s[k].bytesPerDelivery.toFixed(0)} | ${s[k].cpuMicrosPerDelivery.toFixed(2)} | ${s[k].complete ? 'yes' : 'NO'} |`),
  `delta: ×${(s['delta-off'].bytesPerDelivery / s['delta-on'].bytesPerDelivery).toFixed(1)} fewer bytes (target ≥ 5), CPU ×${(s['delta-on'].cpuMicrosPerDelivery / s['delta-off'].cpuMicrosPerDelivery).toFixed(2)} of full values`,
  `filters: CPU ×${(s.filtered.cpuMicrosPerDelivery / s.unfiltered.cpuMicrosPerDelivery).toFixed(2)} of unfiltered (target ≤ 2)`,
];
process.stdout.write(`${lines.join('\n')}\n`);
const file = join(HERE, 'results', 'delta-filters.json');
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, subscribers: SUBSCRIBERS, rate: RATE, duration: DURATION, rounds: rows, summary }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
process.exit(0);
